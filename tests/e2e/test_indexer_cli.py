"""`ragtune index …` as a user runs it: JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"


def ragtune(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "index", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_index_cli_round_trip(home_with_models: Path):
    added = json.loads(
        ragtune(
            "add", str(DOCS / "roof-guide.md"), str(DOCS / "warranty-sphinx.html"), "--meta", "team=support", "--json"
        ).stdout
    )
    assert [d["status"] for d in added["documents"]] == ["added", "added"]

    found = json.loads(ragtune("search", "how long is the warranty period", "-k", "2", "--json").stdout)
    assert list(found) == ["results"] and 1 <= len(found["results"]) <= 2
    first = found["results"][0]
    assert {"doc_id", "chunk_id", "title", "section", "source", "text", "score"} <= set(first)
    assert first["source"] == str(DOCS / "warranty-sphinx.html")
    assert first["title"] == "Warranty and complaints"

    other = json.loads(ragtune("search", "warranty", "--namespace", "tenant-b", "--json").stdout)
    assert other == {"results": []}

    listed = json.loads(ragtune("list", "--json").stdout)["documents"]
    assert {d["metadata"]["team"] for d in listed} == {"support"}
    stats = json.loads(ragtune("stats", "--json").stdout)
    assert stats["documents"] == 2 and stats["namespaces"] == {"default": 2}

    again = json.loads(ragtune("add", str(DOCS / "roof-guide.md"), "--meta", "team=support", "--json").stdout)
    assert again["documents"][0]["status"] == "skipped"

    removed = ragtune("remove", first["doc_id"])
    assert "removed 1 documents" in removed.stderr
    assert len(json.loads(ragtune("list", "--json").stdout)["documents"]) == 1


def test_index_cli_errors_are_one_line(home_with_models: Path, tmp_path: Path):
    missing = ragtune("remove", "0000000000000000", check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: no document")
    assert "Traceback" not in missing.stderr

    bad = tmp_path / "slides.key"
    bad.write_bytes(b"PK\x03\x04")
    failed = ragtune("add", str(bad), check=False)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "unsupported format '.key'" in failed.stderr
    assert "error: 1 of 1 files could not be indexed" in failed.stderr
