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
from ragtune.settings import Settings
from training.adapter_folder import read_card
from training.style import StyleGuide

SAMPLE_ADAPTER = "zaragoza-voice"
SAMPLE_DIR = Path(__file__).parent / "sample_data"
SAMPLE_OVERRIDES = {"learning_rate": 1e-3, "style_max_new_tokens": 96}
"""The demo trains briefly (settings.train.sample_epochs), so it uses a higher learning rate."""


def sample_dataset_path() -> Path:
    """The bundled brand-voice examples (normal form JSONL with train/eval splits)."""
    return SAMPLE_DIR / "zaragoza_voice.jsonl"


def sample_style_guide_path() -> Path:
    return SAMPLE_DIR / "style_guide.json"


def sample_style_guide() -> StyleGuide:
    """Zaragoza AB's style guide (greeting, sign-off, preferred terms, words to avoid)."""
    return StyleGuide.from_file(sample_style_guide_path())


def sample_config_sha256(settings: Settings) -> str:
    """Identity of the demo adapter: data, style guide, training settings and base model."""
    digest = hashlib.sha256()
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


def ensure_sample_adapter(settings: Settings, *, progress=None, status=None) -> Path:
    """Train the demo adapter ``zaragoza-voice`` into ``settings.adapters_dir``, or return the cached
    one when the sample data, style guide, settings and base model are unchanged.
    """
    from training.pipeline import TrainRequest, train_adapter

    target = settings.adapters_dir / SAMPLE_ADAPTER
    config_sha = sample_config_sha256(settings)
    try:
        card = read_card(target)
        if card.hyperparameters.get("sample_config_sha256") == config_sha:
            return target
    except RagtuneError:
        pass
    request = TrainRequest(
        data=sample_dataset_path(), name=SAMPLE_ADAPTER, method="lora",
        epochs=settings.train.sample_epochs, style_guide=sample_style_guide_path(),
        overwrite=True, overrides=SAMPLE_OVERRIDES, extra_hyperparameters={"sample_config_sha256": config_sha},
    )
    train_adapter(request, settings, progress=progress, status=status)
    return target
