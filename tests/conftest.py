"""Shared fixtures.

Models are provisioned once into a cache folder that survives test runs (``RAGTUNE_TEST_CACHE``,
default ``<repo>/.home``), so only the first run pays for the GGUF conversion. Every test gets its
own RAGTUNE_HOME whose ``models/`` links to that cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAGTUNE_TEST_CACHE", REPO / ".home")).resolve()
ARTIFACTS = Path(os.environ.get("RAGTUNE_TEST_ARTIFACTS", REPO / "test-artifacts")).resolve()


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """A models folder holding the two built-in models (provisioned on first use)."""
    from ragtune import models

    folder = CACHE / "models"
    for name in models.BUILTIN_MODELS:
        if models.read_manifest(folder / name) is None:
            models.pull(name, folder)
    return folder


@pytest.fixture(scope="session")
def generator_path(models_dir: Path) -> Path:
    return models_dir / "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def embedder_path(models_dir: Path) -> Path:
    return models_dir / "all-minilm-l6-v2"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty RAGTUNE_HOME for one test (no models; unit tests use this)."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("RAGTUNE_HOME", str(folder))
    from ragtune.settings import get_settings

    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture()
def home_with_models(home: Path, models_dir: Path) -> Path:
    """RAGTUNE_HOME for one test whose models/ is the shared provisioned cache."""
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
