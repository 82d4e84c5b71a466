"""Adapter versions on disk (training/versions.py): versions.json, NAME@VERSION, promote, rollback,
a flat adapter from before versions counted as v1; and the gateway name rule for NAME@VERSION."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.errors import ConflictError, NotFoundError, RagtuneError
from ragtune.names import is_valid_name, is_valid_ref
from training import adapter_folder as folders
from training import versions
from training.adapters import AdapterCard

pytestmark = pytest.mark.unit


def fake_adapter(folder: Path, name: str, version: str | None = None, parent: str | None = None) -> Path:
    """A folder that looks like a trained LoRA adapter (config + card; no weights needed here)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / folders.ADAPTER_CONFIG).write_text(json.dumps({"r": 8}))
    card = AdapterCard(
        name=name,
        path=str(folder),
        base_model="b",
        method="lora",
        data_sha256="d" * 64,
        train_examples=1,
        eval_examples=0,
        version=version,
        parent=parent,
    )
    folders.write_card(folder, card, {})
    return folder


def add(adapter: Path, version: str, parent: str | None) -> None:
    fake_adapter(adapter / version, adapter.name, version, parent)
    versions.add_version(adapter, versions.VersionEntry(version=version, folder=version, parent=parent), promote=False)


def test_refs_and_the_name_rule() -> None:
    assert versions.split_ref("zaragoza-voice") == ("zaragoza-voice", None)
    assert versions.split_ref("zaragoza-voice@v2") == ("zaragoza-voice", "v2")
    assert versions.split_ref("zaragoza-voice@3") == ("zaragoza-voice", "v3")
    for bad in ("../x@v1", "x@v0", "x@latest", "x@", "@v1"):
        with pytest.raises(RagtuneError):
            versions.split_ref(bad)
    assert is_valid_ref("zaragoza-voice@v2") and is_valid_ref("zaragoza-voice")
    assert not is_valid_ref("zaragoza-voice@v2/..") and not is_valid_ref("a@b@v1")
    assert not is_valid_name("zaragoza-voice@v2")  # never a folder name


def test_flat_adapter_is_v1_and_keeps_its_plain_engine_name(tmp_path: Path) -> None:
    flat = fake_adapter(tmp_path / "voice", "voice")
    read = versions.read_versions(flat)
    assert read.promoted == "v1" and [v.folder for v in read.versions] == ["."]
    assert versions.serving(flat) == ("voice", flat)
    assert versions.serving(flat, "v1") == ("voice", flat)
    assert versions.next_version(flat) == "v2"
    assert versions.next_version(tmp_path / "new") == "v1"
    with pytest.raises(NotFoundError):
        versions.serving(flat, "v2")


def test_new_version_beside_a_flat_one_then_promote_and_rollback(tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "voice", "voice")
    add(adapter, "v2", "v1")
    state = versions.read_versions(adapter)
    assert state.promoted == "v1" and [v.version for v in state.versions] == ["v1", "v2"]
    assert versions.serving(adapter) == ("voice@v1", adapter.resolve())  # versioned: NAME@vN keys
    assert versions.serving(adapter, "v2") == ("voice@v2", (adapter / "v2").resolve())
    assert [c.name for c in folders.list_adapters(tmp_path)] == ["voice"]

    stamp = versions.pointer_stamp(adapter)
    change = versions.promote(adapter, "v2", actor="t")
    assert (change.version, change.previous) == ("v2", "v1")
    assert versions.serving(adapter)[0] == "voice@v2" and versions.pointer_stamp(adapter) != stamp
    with pytest.raises(ConflictError):
        versions.promote(adapter, "v2")
    with pytest.raises(NotFoundError):
        versions.promote(adapter, "v9")

    add(adapter, "v3", "v2")
    versions.promote(adapter, "v3", forced=True, reason="hotfix")
    assert versions.rollback(adapter).version == "v2"
    assert versions.rollback(adapter).version == "v1"
    with pytest.raises(ConflictError, match="no earlier"):
        versions.rollback(adapter)
    history = versions.read_versions(adapter).history
    assert [(c.action, c.version) for c in history] == [
        ("promote", "v2"),
        ("promote", "v3"),
        ("rollback", "v2"),
        ("rollback", "v1"),
    ]
    assert history[1].forced and history[1].reason == "hotfix"


def test_first_version_is_promoted_and_rows_list_every_version(tmp_path: Path) -> None:
    adapter = tmp_path / "voice"
    fake_adapter(adapter / "v1", "voice", "v1")
    versions.add_version(adapter, versions.VersionEntry(version="v1", folder="v1"), promote=False)
    assert versions.read_versions(adapter).promoted == "v1"  # nothing was promoted yet
    add(adapter, "v2", "v1")
    versions.set_evaluation(adapter, "v2", {"passed": False})
    assert folders.read_card(adapter / "v2").evaluation == {"passed": False}
    [row] = versions.adapter_rows(tmp_path)
    assert row.name == "voice" and row.promoted == "v1"
    assert [(v.version, v.parent) for v in row.versions] == [("v1", None), ("v2", "v1")]
    assert row.versions[1].evaluation == {"passed": False} and row.versions[1].card is not None


def test_damaged_versions_file_is_a_clear_error(tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "voice", "voice")
    (adapter / versions.VERSIONS_FILE).write_text("{not json")
    with pytest.raises(RagtuneError, match="damaged"):
        versions.read_versions(adapter)


def test_adapters_list_shows_every_version_and_the_promoted_one(home: Path) -> None:
    from typer.testing import CliRunner

    from ragtune.cli import app

    adapter = fake_adapter(home / "adapters" / "voice", "voice")
    add(adapter, "v2", "v1")
    table = CliRunner().invoke(app, ["adapters", "list"])
    assert table.exit_code == 0, table.output
    assert "voice@v1*" in table.output and "voice@v2 " in table.output
    listed = json.loads(CliRunner().invoke(app, ["adapters", "list", "--json"]).output)["adapters"]
    assert listed[0]["name"] == "voice" and listed[0]["promoted"] == "v1"
    assert [v["version"] for v in listed[0]["versions"]] == ["v1", "v2"]
    assert listed[0]["data_sha256"] == "d" * 64  # the promoted version's card, as before versions
