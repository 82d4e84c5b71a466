"""deploy/scripts/publish-index.sh and fetch-index.sh: releases appear whole, `current` flips in
one rename, a second writer is refused, failures publish nothing, old releases are pruned.

A stand-in for the `ragtune` CLI (INDEX_CLI) keeps these fast; the real CLI runs in
tests/integration/test_deploy_external_engine.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPTS = Path(__file__).resolve().parents[2] / "deploy" / "scripts"

STAND_IN = """
# A stand-in for `ragtune index add|list|remove|stats`: RAGTUNE_HOME/index/documents.json maps
# doc id -> {namespace, source}, the way the real store keeps its catalog there.
import hashlib, json, os, sys
from pathlib import Path

if os.environ.get("STAND_IN_FAIL") == "1":
    sys.exit("error: cannot read documents")
index = Path(os.environ["RAGTUNE_HOME"]) / "index"
catalog = index / "documents.json"
documents = json.loads(catalog.read_text()) if catalog.exists() else {}
args = sys.argv[1:]
namespace = args[args.index("--namespace") + 1] if "--namespace" in args else None
positional = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--namespace")]
command = " ".join(positional[:2])
if command == "index add":
    index.mkdir(parents=True, exist_ok=True)
    for root in positional[2:]:
        files = [Path(root)] if Path(root).is_file() else sorted(p for p in Path(root).rglob("*") if p.is_file())
        for path in files:
            doc_id = hashlib.sha256(f"{namespace}:{path}".encode()).hexdigest()[:16]
            documents[doc_id] = {"namespace": namespace, "source": str(path)}
    models = sorted(os.listdir(Path(os.environ["RAGTUNE_HOME"]) / "models"))
    (index / "env.txt").write_text(f"read_only={os.environ.get('RAGTUNE_INDEX__READ_ONLY')} models={','.join(models)}")
elif command == "index remove":
    for doc_id in positional[2:]:
        assert documents.pop(doc_id)["namespace"] == namespace
elif command == "index list":
    print(json.dumps({"documents": [{"doc_id": k, **v} for k, v in documents.items()]}))
elif command == "index stats":
    print(f"stats: {len(documents)} documents")
else:
    sys.exit(f"unexpected command {args}")
catalog.write_text(json.dumps(documents, indent=1, sort_keys=True))
"""


@pytest.fixture()
def layout(tmp_path: Path) -> dict[str, Path]:
    cli = tmp_path / "ragtune-stand-in"
    cli.write_text(f"#!{sys.executable}\n{STAND_IN}")
    cli.chmod(0o755)
    home = tmp_path / "home"
    (home / "models" / "all-minilm-l6-v2").mkdir(parents=True)
    docs = tmp_path / "docs"
    (docs / "acme").mkdir(parents=True)
    (docs / "acme" / "faq.md").write_text("# FAQ\nWe build houses.")
    (docs / "handbook.txt").write_text("The default namespace.")
    return {
        "cli": cli,
        "home": home,
        "docs": docs,
        "published": tmp_path / "published",
        "replica": tmp_path / "replica-index",
    }


def _run(script: str, *args: Path | str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("RAGTUNE_INDEX__READ_ONLY", None)
    full_env.update(env or {})
    return subprocess.run(
        [str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True, env=full_env, timeout=60
    )


def _publish(layout: dict[str, Path], **extra: str) -> subprocess.CompletedProcess:
    env = {
        "INDEX_CLI": str(layout["cli"]),
        "RAGTUNE_HOME": str(layout["home"]),
        "RAGTUNE_INDEX__READ_ONLY": "true",
        **extra,
    }
    return _run("publish-index.sh", layout["docs"], layout["published"], env=env)


def test_publish_builds_every_namespace_and_flips_current(layout: dict[str, Path]) -> None:
    result = _publish(layout)
    assert result.returncode == 0, result.stderr
    release_id = result.stdout.strip()
    current = layout["published"] / "current"
    assert current.is_symlink() and os.readlink(current) == f"releases/{release_id}"
    assert _sources(current) == {("acme", "faq.md"), ("default", "handbook.txt")}
    # the build is a writer even where the shared settings say read-only, and sees the models
    assert (current / "env.txt").read_text().strip() == "read_only=false models=all-minilm-l6-v2"
    assert "stats: 2 documents" in (current / "PUBLISHED-STATS.txt").read_text()
    assert not (layout["published"] / ".publish.lock").exists()
    assert not list(layout["published"].glob("releases/.*"))


def test_fetch_copies_the_current_release_and_replaces_old_contents(layout: dict[str, Path]) -> None:
    assert _publish(layout).returncode == 0
    layout["replica"].mkdir()
    (layout["replica"] / "stale.bin").write_text("old")
    result = _run("fetch-index.sh", layout["published"], layout["replica"])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in layout["replica"].iterdir()) == ["PUBLISHED-STATS.txt", "documents.json", "env.txt"]


def test_fetch_without_a_published_index_starts_empty_or_fails_when_required(layout: dict[str, Path]) -> None:
    result = _run("fetch-index.sh", layout["published"], layout["replica"])
    assert result.returncode == 0 and layout["replica"].is_dir()
    assert "no index published" in result.stderr
    required = _run("fetch-index.sh", layout["published"], layout["replica"], env={"REQUIRE_INDEX": "1"})
    assert required.returncode == 1 and "run the index Job first" in required.stderr


def _sources(release: Path) -> set[tuple[str, str]]:
    """(namespace, file name) of every document in a release."""
    documents = json.loads((release / "documents.json").read_text())
    return {(d["namespace"], Path(d["source"]).name) for d in documents.values()}


def test_full_rebuild_forgets_nothing_but_keeps_nothing_stale(layout: dict[str, Path]) -> None:
    assert _publish(layout).returncode == 0
    (layout["docs"] / "handbook.txt").unlink()
    (layout["docs"] / "acme" / "prices.md").write_text("Prices.")
    assert _publish(layout).returncode == 0
    assert _sources(layout["published"] / "current") == {("acme", "faq.md"), ("acme", "prices.md")}


def test_incremental_publish_starts_from_current_and_drops_deleted_files(layout: dict[str, Path]) -> None:
    assert _publish(layout).returncode == 0
    first = os.readlink(layout["published"] / "current")
    # a document that only the previous release holds (e.g. uploaded before) outside DOCS_ROOT stays
    catalog = layout["published"] / first / "documents.json"
    documents = json.loads(catalog.read_text())
    documents["feedfacecafebeef"] = {"namespace": "acme", "source": "https://example.com/policy"}
    catalog.write_text(json.dumps(documents))
    (layout["docs"] / "handbook.txt").unlink()
    (layout["docs"] / "acme" / "prices.md").write_text("Prices.")
    result = _publish(layout, INCREMENTAL="1")
    assert result.returncode == 0, result.stderr
    assert "starting from release" in result.stderr and "whose file is gone" in result.stderr
    current = layout["published"] / "current"
    assert os.readlink(current) != first
    assert _sources(current) == {("acme", "faq.md"), ("acme", "prices.md"), ("acme", "policy")}
    # the previous release itself is never modified
    assert ("default", "handbook.txt") in _sources(layout["published"] / first)


def test_bad_incremental_flag_is_refused(layout: dict[str, Path]) -> None:
    result = _publish(layout, INCREMENTAL="yes")
    assert result.returncode == 1 and "INCREMENTAL must be 0 or 1" in result.stderr


def test_a_second_publisher_is_refused_and_nothing_changes(layout: dict[str, Path]) -> None:
    assert _publish(layout).returncode == 0
    before = os.readlink(layout["published"] / "current")
    lock = layout["published"] / ".publish.lock"
    lock.mkdir()
    (lock / "owner").write_text("other-host pid 7")
    result = _publish(layout)
    assert result.returncode == 1
    assert "another publisher holds" in result.stderr and "other-host pid 7" in result.stderr
    assert os.readlink(layout["published"] / "current") == before
    assert lock.is_dir(), "the other publisher's lock must stay"


def test_a_failed_build_publishes_nothing_and_keeps_the_current_release(layout: dict[str, Path]) -> None:
    assert _publish(layout).returncode == 0
    before = os.readlink(layout["published"] / "current")
    releases = sorted(p.name for p in (layout["published"] / "releases").iterdir())
    result = _publish(layout, STAND_IN_FAIL="1")
    assert result.returncode != 0 and "cannot read documents" in result.stderr
    assert os.readlink(layout["published"] / "current") == before
    assert sorted(p.name for p in (layout["published"] / "releases").iterdir()) == releases
    assert not (layout["published"] / ".publish.lock").exists()


def test_an_empty_documents_folder_is_an_error(layout: dict[str, Path], tmp_path: Path) -> None:
    layout["docs"] = tmp_path / "empty"
    layout["docs"].mkdir()
    result = _publish(layout)
    assert result.returncode == 1 and "nothing to index" in result.stderr
    assert not (layout["published"] / "current").exists()


def test_old_releases_are_pruned_to_keep_releases(layout: dict[str, Path]) -> None:
    ids = []
    for _ in range(4):
        result = _publish(layout, KEEP_RELEASES="1")
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    assert len(set(ids)) == 4
    left = sorted(p.name for p in (layout["published"] / "releases").iterdir())
    assert left == sorted(ids[-2:]), "the current release and one older one are kept"
    assert os.readlink(layout["published"] / "current") == f"releases/{ids[-1]}"


def test_bad_keep_releases_is_refused(layout: dict[str, Path]) -> None:
    result = _publish(layout, KEEP_RELEASES="two")
    assert result.returncode == 1 and "KEEP_RELEASES must be a whole number" in result.stderr
