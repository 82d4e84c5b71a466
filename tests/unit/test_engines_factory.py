"""create_engine and adapter discovery (no model is loaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.errors import RagtuneError
from ragtune.settings import Settings
from services.engines import factory
from services.engines.base import EngineError
from training import adapter_folder

pytestmark = pytest.mark.unit


def _adapter(folder: Path, rank: int = 8) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    return folder


def test_discover_adapters(tmp_path: Path) -> None:
    _adapter(tmp_path / "brand")
    _adapter(tmp_path / "nested" / "adapter")
    (tmp_path / "not-an-adapter").mkdir()
    _adapter(tmp_path / ".hidden")
    found = factory.discover_adapters(tmp_path)
    assert found == {"brand": tmp_path / "brand", "nested": tmp_path / "nested" / "adapter"}
    assert factory.discover_adapters(tmp_path / "missing") == {}


def test_lora_rank_limit_covers_every_adapter(tmp_path: Path) -> None:
    adapters = {"a": _adapter(tmp_path / "a", 8), "b": _adapter(tmp_path / "b", 100)}
    assert factory.lora_rank_limit(16, adapters) == 128
    assert factory.lora_rank_limit(64, {}) == 64
    assert adapter_folder.lora_rank(tmp_path) == 0


def test_external_url_builds_a_vllm_engine_without_a_process(home: Path) -> None:
    _adapter(home / "adapters" / "brand")
    settings = Settings(engine={"kind": "vllm", "url": "http://127.0.0.1:1/v1", "api_key": "k"})
    engine = factory.create_engine(settings)
    assert engine.kind == "vllm" and engine.process is None
    assert engine.url == "http://127.0.0.1:1"
    assert engine.base_model == "smollm2-135m-instruct"


def test_owned_vllm_gets_the_adapters_on_its_command_line(home_with_models: Path) -> None:
    pytest.importorskip("vllm")
    _adapter(home_with_models / "adapters" / "brand", rank=128)
    settings = Settings(engine={"kind": "vllm", "cpu_threads": "0", "kv_cache_gib": 2, "adapter_strategy": "unmerged"})
    engine = factory.create_engine(settings)
    config = engine.process.config
    assert config.enable_lora
    assert config.lora_modules == {"brand": home_with_models / "adapters" / "brand"}
    assert config.max_lora_rank == 128 and config.kv_cache_gib == 2 and config.cpu_threads == "0"
    assert engine.process.runs_dir == home_with_models / "runs"


def test_local_engine_from_settings(home_with_models: Path) -> None:
    engine = factory.create_engine(Settings(engine={"kind": "local"}))
    assert engine.kind == "local" and engine.adapters() == []


def test_missing_model_is_a_user_error(home: Path) -> None:
    with pytest.raises(RagtuneError, match="ragtune models pull"):
        factory.create_engine(Settings(engine={"kind": "local"}))


def test_vllm_not_installed_suggests_the_local_engine(home_with_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "vllm_available", lambda: False)
    with pytest.raises(EngineError, match="RAGTUNE_ENGINE__KIND=local"):
        factory.create_engine(Settings(engine={"kind": "vllm"}))


def test_merged_strategy_builds_a_pool_whose_base_runs_without_lora(home_with_models: Path) -> None:
    pytest.importorskip("vllm")
    from services.engines.pool import EnginePool

    _adapter(home_with_models / "adapters" / "brand")
    settings = Settings(engine={"kind": "vllm", "adapter_strategy": "merged", "max_engines": 2})
    pool = factory.create_engine(settings)
    assert isinstance(pool, EnginePool)
    assert not pool.base_has_lora and pool.max_running == 2
    base = pool._base.build()  # an unstarted engine: nothing runs yet
    assert not base.process.config.enable_lora and base.process.config.lora_modules == {}
    assert factory.merged_cache_dir(settings) == home_with_models / "models" / "merged"


def test_per_adapter_override_puts_lora_on_the_base_engine(home_with_models: Path) -> None:
    pytest.importorskip("vllm")
    _adapter(home_with_models / "adapters" / "brand")
    _adapter(home_with_models / "adapters" / "other")
    settings = Settings(
        engine={"kind": "vllm", "adapter_strategy": "merged", "adapter_strategies": {"other": "unmerged"}}
    )
    pool = factory.create_engine(settings)
    assert pool.base_has_lora
    config = pool._base.build().process.config
    assert config.enable_lora and set(config.lora_modules) == {"other"}


def test_auto_strategy_is_merged_without_a_gpu(home: Path) -> None:
    expected = "unmerged" if factory.gpu_available() else "merged"
    assert factory.default_strategy(Settings()) == expected
    assert factory.default_strategy(Settings(engine={"adapter_strategy": "unmerged"})) == "unmerged"


def test_compile_off_starts_engines_without_lora_eagerly(home_with_models: Path) -> None:
    pytest.importorskip("vllm")
    settings = Settings(engine={"kind": "vllm", "adapter_strategy": "merged", "compile": False})
    pool = factory.create_engine(settings)
    assert "--enforce-eager" in pool._base.build().process.config.extra_args
    compiled = factory.create_engine(Settings(engine={"kind": "vllm", "adapter_strategy": "merged"}))
    assert "--enforce-eager" not in compiled._base.build().process.config.extra_args
