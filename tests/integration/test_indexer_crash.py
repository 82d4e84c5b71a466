"""Kill `ragtune index add` in the middle of a large add: the store keeps exactly what was committed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer import DocumentStore
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.integration
DOCUMENTS = 80
WORDS = [
    "roof",
    "gutter",
    "window",
    "facade",
    "drain",
    "chimney",
    "insulation",
    "radiator",
    "tile",
    "membrane",
    "beam",
    "joist",
    "render",
    "plaster",
    "primer",
    "sealant",
]


def make_corpus(folder: Path) -> None:
    folder.mkdir()
    for n in range(DOCUMENTS):
        paragraphs = [
            f"Document {n:03d} paragraph {p}: the {WORDS[(n + p) % len(WORDS)]} must be checked by "
            f"the site manager every {p + 2} weeks, and the {WORDS[(n * 3 + p) % len(WORDS)]} "
            f"report number {n * 100 + p} is filed with the customer before payment is released."
            for p in range(8)
        ]
        (folder / f"doc-{n:03d}.md").write_text(f"# Report {n:03d}\n\n" + "\n\n".join(paragraphs))


def committed(catalog: Path) -> dict[str, int]:
    """doc_id -> chunk rows, read straight from SQLite (read-only)."""
    if not catalog.is_file():
        return {}
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT d.doc_id, d.chunks, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.doc_id) FROM documents d"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()
    assert all(declared == stored for _, declared, stored in rows), "a half-written document"
    return {doc_id: stored for doc_id, _, stored in rows}


def test_kill_mid_add_keeps_exactly_the_committed_documents(
    home_with_models: Path, tmp_path: Path, embedder_path: Path
):
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    catalog = home_with_models / "index" / "catalog.sqlite3"
    env = {
        **os.environ,
        "RAGTUNE_INDEX__CHUNK_TOKENS": "48",
        "RAGTUNE_INDEX__CHUNK_OVERLAP": "8",
        "HF_HUB_OFFLINE": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ragtune.cli", "index", "add", str(corpus)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while not committed(catalog) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the add finished before it could be killed; add more documents"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    before = committed(catalog)
    assert 0 < len(before) < DOCUMENTS

    config = IndexSettings(chunk_tokens=48, chunk_overlap=8)
    store = DocumentStore.open(home_with_models / "index", embedder_path, config)
    assert {d.doc_id: d.chunks for d in store.list_documents()} == before
    assert store.stats().chunks == sum(before.values())
    hits = store.search("Document 000 paragraph 3 report number 3", k=1, mode="dense")
    assert hits and hits[0].doc_id in before
    assert store.vectors_for("default").size == sum(before.values())  # FAISS caught up exactly
    # the killed writer's lock is gone: the store takes new documents and keeps the old ones
    report = store.add_paths(sorted(corpus.glob("*.md"))[:2])
    assert report.skipped + report.added == 2 and report.skipped >= 1
    assert set(before) <= {d.doc_id for d in store.list_documents()}
    store.close()
