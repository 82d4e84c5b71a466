"""Settings: defaults, environment, TOML file, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ragtune.settings import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, Settings

pytestmark = pytest.mark.unit


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAGTUNE_HOME", raising=False)
    settings = Settings()
    assert settings.home == (Path.home() / ".cache" / "ragtune").resolve()
    assert settings.models.generator == DEFAULT_GENERATOR
    assert settings.models.embedder == DEFAULT_EMBEDDER
    assert settings.engine.kind == "vllm"
    assert settings.gateway.host == "127.0.0.1" and settings.gateway.port == 8000
    assert settings.models_dir == settings.home / "models"
    assert settings.adapters_dir == settings.home / "adapters"


def test_environment_overrides_nested(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("RAGTUNE_ENGINE__KIND", "local")
    monkeypatch.setenv("RAGTUNE_INDEX__TOP_K", "7")
    monkeypatch.setenv("RAGTUNE_MODELS__GENERATOR", "/models/my-llm")
    settings = Settings()
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.engine.kind == "local"
    assert settings.index.top_k == 7
    assert settings.models.generator == "/models/my-llm"


def test_toml_file_and_env_priority(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ragtune.toml").write_text('[engine]\nkind = "local"\nkv_cache_gib = 2\n[gateway]\nport = 9001\n')
    settings = Settings()
    assert settings.engine.kind == "local" and settings.engine.kv_cache_gib == 2
    assert settings.gateway.port == 9001
    monkeypatch.setenv("RAGTUNE_GATEWAY__PORT", "9002")
    assert Settings().gateway.port == 9002  # the environment wins over the file


def test_explicit_config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[index]\nkind = "hnsw"\n')
    monkeypatch.setenv("RAGTUNE_CONFIG", str(config))
    assert Settings().index.kind == "hnsw"


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAGTUNE_ENGINE__KIND", "tensorrt")
    with pytest.raises(ValidationError, match="engine.kind"):
        Settings()


def test_ensure_dirs(home: Path) -> None:
    from ragtune.settings import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    for name in ("models", "index", "adapters", "runs"):
        assert (home / name).is_dir()
