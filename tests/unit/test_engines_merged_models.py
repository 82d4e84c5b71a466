"""The merged-model cache key: content of base and adapter weights, not the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune import models as model_store
from services.engines.base import EngineError
from services.engines.merged_models import base_fingerprint, merge_key, merged_model_dir

pytestmark = pytest.mark.unit


def _adapter(folder: Path, weights: bytes = b"w1") -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def _base(folder: Path, sha: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"base")
    if sha:
        manifest = model_store.ModelManifest(name="b", kind="generator", source="x", sha256=sha, files=2, bytes=6)
        (folder / model_store.MANIFEST).write_text(manifest.model_dump_json())
    return folder


def test_key_follows_weights_not_card(tmp_path: Path) -> None:
    base = _base(tmp_path / "base")
    adapter = _adapter(tmp_path / "a")
    key = merge_key(base, adapter)
    (adapter / "adapter_card.json").write_text("{}")
    (adapter / "README.md").write_text("notes")
    assert merge_key(base, adapter) == key
    assert merge_key(base, _adapter(tmp_path / "b", b"w2")) != key
    assert merge_key(base, _adapter(tmp_path / "c", b"w1")) == key  # same content, other folder


def test_base_fingerprint_uses_the_manifest(tmp_path: Path) -> None:
    assert base_fingerprint(_base(tmp_path / "m", sha="abc")) == "abc"
    plain = _base(tmp_path / "p")
    assert len(base_fingerprint(plain)) == 64


def test_no_adapter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no peft adapter"):
        merge_key(_base(tmp_path / "base"), tmp_path)


def test_cached_folder_is_reused_without_merging(tmp_path: Path) -> None:
    base = _base(tmp_path / "base")
    adapter = _adapter(tmp_path / "a")
    cache = tmp_path / "cache"
    done = cache / merge_key(base, adapter)
    done.mkdir(parents=True)
    (done / "config.json").write_text("{}")
    (done / "ragtune_merge.json").write_text("{}")
    assert merged_model_dir(base, adapter, cache) == done


def test_failed_merge_leaves_no_folder(tmp_path: Path) -> None:
    base = _base(tmp_path / "base")  # not a loadable model
    adapter = _adapter(tmp_path / "a")
    cache = tmp_path / "cache"
    with pytest.raises(EngineError, match="could not merge"):
        merged_model_dir(base, adapter, cache)
    assert list(cache.iterdir()) == []
