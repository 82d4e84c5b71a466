"""The bundled demo: Zaragoza AB's brand-voice examples, its style guide, and the demo adapter.

The data comes from the ``zaragoza-construction-faq`` wheel (Swedish Construction FAQ by Zaragoza
AB, CC BY 4.0) with the voice made measurable; see ``training/sample_build.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ragtune import models as model_store
from ragtune.errors import RagtuneError
from ragtune.prompts import PROMPT_TEMPLATE
from ragtune.settings import Settings
from training.adapter_folder import read_card
from training.style import StyleGuide

SAMPLE_ADAPTER = "zaragoza-voice"
SAMPLE_DIR = Path(__file__).parent / "sample_data"
SAMPLE_OVERRIDES = {"learning_rate": 1e-3, "style_max_new_tokens": 96}
"""The demo trains briefly (settings.train.sample_epochs), so it uses a higher learning rate."""
CONTEXT_OVERRIDES = {**SAMPLE_OVERRIDES, "max_seq_len": 1024}
"""Context-aware examples carry the retrieved chunks (about 400 tokens at k 4-5): room for them."""


def sample_dataset_path() -> Path:
    """The bundled brand-voice examples (normal form JSONL with train/eval splits)."""
    return SAMPLE_DIR / "zaragoza_voice.jsonl"


def sample_style_guide_path() -> Path:
    return SAMPLE_DIR / "style_guide.json"


def sample_style_guide() -> StyleGuide:
    """Zaragoza AB's style guide (greeting, sign-off, preferred terms, words to avoid)."""
    return StyleGuide.from_file(sample_style_guide_path())


def sample_config_sha256(settings: Settings, held_out: frozenset[str] = frozenset()) -> str:
    """Identity of the demo adapter: data, style guide, training settings, base model, whether it is
    context-aware (then also the embedder and index settings) and the held-out FAQ entries."""
    digest = hashlib.sha256()
    if settings.train.sample_with_context:
        digest.update(
            json.dumps(
                {
                    "context": PROMPT_TEMPLATE,
                    "embedder": settings.models.embedder,
                    "index": settings.index.model_dump(mode="json"),
                    "held_out": sorted(held_out),
                },
                sort_keys=True,
            ).encode()
        )
    digest.update(sample_dataset_path().read_bytes())
    digest.update(sample_style_guide_path().read_bytes())
    digest.update(json.dumps(settings.train.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(json.dumps(SAMPLE_OVERRIDES, sort_keys=True).encode())
    digest.update(settings.models.generator.encode())
    try:
        base = model_store.resolve(settings.models.generator, settings.models_dir)
        manifest = model_store.read_manifest(base)
        digest.update((manifest.sha256 if manifest else str(base)).encode())
    except model_store.ModelNotFoundError:
        pass
    return digest.hexdigest()


def ensure_sample_adapter(
    settings: Settings, *, progress=None, status=None, held_out: frozenset[str] = frozenset()
) -> Path:
    """Train the demo adapter ``zaragoza-voice`` into ``settings.adapters_dir``, or return the cached
    one when the sample data, style guide, settings and base model are unchanged.

    With ``train.sample_with_context`` (the default) it trains context-aware over the indexed sample
    corpus (namespace ``default``: index it first). ``held_out``: FAQ entries (example ids) that
    must not train, e.g. those of an evaluation's questions.
    """
    from training.pipeline import TrainRequest, train_adapter

    target = settings.adapters_dir / SAMPLE_ADAPTER
    config_sha = sample_config_sha256(settings, held_out)
    try:
        card = read_card(target)
        if card.hyperparameters.get("sample_config_sha256") == config_sha:
            return target
    except RagtuneError:
        pass
    context = settings.train.sample_with_context
    request = TrainRequest(
        data=sample_dataset_path(),
        name=SAMPLE_ADAPTER,
        method="lora",
        epochs=settings.train.sample_epochs,
        style_guide=sample_style_guide_path(),
        overwrite=True,
        overrides=CONTEXT_OVERRIDES if context else SAMPLE_OVERRIDES,
        extra_hyperparameters={"sample_config_sha256": config_sha},
    )
    if context:
        from training.context import train_with_context

        return train_with_context(request, settings, held_out=set(held_out), progress=progress, status=status)
    if held_out:
        from ragtune.crypto import load_key
        from training.context import without_entries, write_examples
        from training.readers import read_examples

        rows, _ = read_examples(sample_dataset_path())
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        data = write_examples(
            without_entries((e for _, e in rows), set(held_out)),
            settings.runs_dir / f"{SAMPLE_ADAPTER}-held-out.jsonl",
            load_key(settings),
        )
        request = request.model_copy(update={"data": data})
    train_adapter(request, settings, progress=progress, status=status)
    return target
