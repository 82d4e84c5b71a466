"""Incremental updates, bad input, read-only and cross-process visibility on a real store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from indexer import (
    DocumentNotFoundError,
    DocumentStore,
    DocumentTooLargeError,
    EmptyDocumentError,
    IndexerError,
    ReadOnlyIndexError,
    UnreadableDocumentError,
    UnsupportedFormatError,
)
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.integration

ROOFS = "# Roofs\n\nConcrete roof tiles last about fifty years when the underlay is kept dry.\n"
WINDOWS = "# Windows\n\nTriple glazing lowers heat loss through the windows by half.\n"


@pytest.fixture()
def store(tmp_path: Path, embedder_path: Path) -> DocumentStore:
    opened = DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings())
    yield opened
    opened.close()


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def snapshot(store: DocumentStore) -> tuple:
    documents = [(d.doc_id, d.content_hash, d.chunks) for d in store.list_documents()]
    hits = [(h.chunk_id, round(h.score, 6)) for h in store.search("roof tiles", k=5)]
    return documents, hits, store.stats().chunks


def test_add_skip_replace_remove(store: DocumentStore, tmp_path: Path):
    docs = tmp_path / "docs"
    roofs, windows = write(docs, "roofs.md", ROOFS), write(docs, "windows.md", WINDOWS)
    first = store.add_paths([docs], metadata={"team": "sales"})
    assert (first.added, first.replaced, first.skipped) == (2, 0, 0)
    ids = {Path(d.source).name: d.doc_id for d in store.list_documents()}
    assert store.list_documents()[0].metadata == {"team": "sales"}

    again = store.add_paths([roofs, windows], metadata={"team": "sales"})
    assert (again.added, again.skipped, again.chunks_embedded) == (0, 2, 0)

    roofs.write_text(ROOFS.replace("fifty", "sixty") + "\nClay tiles can last a century.\n")
    changed = store.add_paths([docs], metadata={"team": "sales"})
    assert (changed.replaced, changed.skipped) == (1, 1)
    assert {Path(d.source).name: d.doc_id for d in store.list_documents()} == ids  # stable ids
    top = store.search("how long do concrete roof tiles last", k=1)[0]
    assert "sixty" in top.text and "fifty" not in top.text
    assert all("fifty" not in h.text for h in store.search("fifty years", k=10, mode="bm25"))

    before = store.stats().chunks
    removed = store.remove([ids["roofs.md"]])
    assert removed >= 1 and store.stats().chunks == before - removed
    assert all(h.doc_id != ids["roofs.md"] for h in store.search("roof tiles", k=10))
    with pytest.raises(DocumentNotFoundError):
        store.remove([ids["roofs.md"]])
    with pytest.raises(DocumentNotFoundError):
        store.remove([ids["windows.md"]], namespace="other")
    assert [d.doc_id for d in store.list_documents()] == [ids["windows.md"]]


def test_changed_metadata_replaces_and_unchanged_chunks_are_not_re_embedded(store: DocumentStore, tmp_path: Path):
    path = write(tmp_path, "roofs.md", ROOFS + "\n## Care\n\nClean the gutters every autumn.\n")
    store.add_paths([path])
    report = store.add_paths([path], metadata={"owner": "anna"})
    assert report.replaced == 1 and report.chunks_embedded == 0  # same chunks: embeddings re-used
    assert store.list_documents()[0].metadata == {"owner": "anna"}


def test_records_file_update_removes_dropped_records(store: DocumentStore, tmp_path: Path):
    rows = [
        {"id": f"r{i}", "question": f"Question {i}?", "answer": f"Answer number {i} about roofs."} for i in range(3)
    ]
    path = tmp_path / "faq.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert store.add_paths([path]).added == 3
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]))
    report = store.add_paths([path])
    assert (report.skipped, report.removed) == (2, 1)
    assert sorted(d.source.split("#")[1] for d in store.list_documents()) == ["r0", "r1"]


def test_bad_input_is_reported_and_changes_nothing(tmp_path: Path, embedder_path: Path):
    store = DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings(max_document_bytes=5_000))
    good = write(tmp_path / "docs", "roofs.md", ROOFS)
    store.add_paths([good])
    before = snapshot(store)

    bad = tmp_path / "bad"
    broken_pdf = bad / "broken.pdf"
    bad.mkdir()
    broken_pdf.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    unknown = write(bad, "slides.key", "not supported")
    empty = write(bad, "empty.md", "   \n\n")
    huge = write(bad, "huge.txt", "roof tiles " * 2_000)
    unreadable = write(bad, "locked.txt", "secret")
    unreadable.chmod(0)
    changed = write(tmp_path / "docs", "roofs.md", ROOFS + "\nThis change must not be lost.\n")
    changed.write_text(ROOFS)  # unchanged content after all

    expected = {"broken.pdf": 400, "slides.key": 415, "empty.md": 422, "huge.txt": 413}
    paths = [broken_pdf, unknown, empty, huge]
    if os.geteuid() != 0:  # root reads a file with mode 000 anyway
        expected["locked.txt"] = 400
        paths.append(unreadable)
    report = store.add_paths(paths)
    codes = {Path(o.source).name: o.status_code for o in report.failed}
    for name, code in expected.items():
        assert codes[name] == code, (name, report.failed)
    assert all(o.reason and name in o.reason for name, o in ((Path(o.source).name, o) for o in report.failed))
    assert snapshot(store) == before

    for name, data, error in [
        ("x.pdf", b"%PDF-broken", UnreadableDocumentError),
        ("x.exe", b"MZ", UnsupportedFormatError),
        ("x.md", b"", EmptyDocumentError),
        ("x.txt", b"a" * 6_000, DocumentTooLargeError),
    ]:
        with pytest.raises(error):
            store.add_bytes(name, data)
    with pytest.raises(DocumentNotFoundError):
        store.add_paths([tmp_path / "missing.md"])
    with pytest.raises(IndexerError):
        store.search("   ")
    with pytest.raises(IndexerError):
        store.add_paths([good], namespace="../evil")
    assert snapshot(store) == before
    store.close()


def test_upload_and_other_process_sees_changes_without_restart(tmp_path: Path, embedder_path: Path):
    writer = DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings())
    reader = DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings(), read_only=True)
    assert reader.search("roof tiles") == []
    report = writer.add_bytes("roofs.md", ROOFS.encode(), namespace="acme", source="https://acme.se/roofs")
    assert report.added == 1
    hits = reader.search("how long do roof tiles last", namespace="acme")
    assert hits and hits[0].source == "https://acme.se/roofs"
    writer.add_bytes("windows.md", WINDOWS.encode(), namespace="acme")
    assert reader.search("triple glazing", namespace="acme", k=1)[0].title == "Windows"
    writer.remove([hits[0].doc_id])
    assert all(h.doc_id != hits[0].doc_id for h in reader.search("roof tiles", namespace="acme", k=10))
    with pytest.raises(ReadOnlyIndexError):
        reader.add_bytes("x.md", b"# x\n\ntext")
    with pytest.raises(ReadOnlyIndexError):
        reader.remove([hits[0].doc_id])
    writer.close()
    reader.close()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_other_index_kinds_search_and_reopen(tmp_path: Path, embedder_path: Path, kind: str):
    config = IndexSettings(kind=kind, ivf_nlist=2)
    store = DocumentStore.open(tmp_path / "index", embedder_path, config)
    rows = [
        {"id": str(i), "text": f"Fact {i}: the {w} roof needs care every {i} years."}
        for i, w in enumerate(["red", "green", "blue", "slate", "metal", "tile", "felt", "copper", "zinc", "clay"] * 8)
    ]
    (tmp_path / "facts.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    store.add_paths([tmp_path / "facts.jsonl"])
    store.remove([store.list_documents()[0].doc_id])
    hits = store.search("copper roof", k=3, mode="dense")
    assert hits and "copper" in hits[0].text
    store.close()
    reopened = DocumentStore.open(tmp_path / "index", embedder_path, config)
    assert reopened.stats().chunks == 79
    assert reopened.search("copper roof", k=3, mode="dense")[0].chunk_id == hits[0].chunk_id
    reopened.close()


def test_pdf_hits_carry_their_pages_and_old_catalogs_gain_the_columns(tmp_path: Path, embedder_path: Path):
    import sqlite3

    docs = Path(__file__).resolve().parents[1] / "data" / "docs"
    store = DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings())
    try:
        store.add_paths([docs / "ventilation-manual-pdftex-twocolumn.pdf"], namespace="manuals")
        store.add_paths([write(tmp_path / "docs", "roofs.md", ROOFS)], namespace="manuals")
        hits = store.search("How often should the filters be replaced?", k=5, namespace="manuals")
        assert hits and all(h.source.endswith(".pdf") and h.page is not None and h.page >= 1 for h in hits)
        assert all(h.page_end is None or h.page_end > h.page for h in hits)
        (roofs,) = store.search("concrete roof tiles", k=1, namespace="manuals")
        assert roofs.source.endswith("roofs.md") and roofs.page is None and roofs.page_end is None
    finally:
        store.close()
    # a catalog written before pages were stored: the columns are added on open, old rows stay page-less
    catalog = tmp_path / "index" / "catalog.sqlite3"
    with sqlite3.connect(catalog) as db:
        db.execute("ALTER TABLE chunks DROP COLUMN page_end")
        db.execute("ALTER TABLE chunks DROP COLUMN page")
    reopened = DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings())
    try:
        hits = reopened.search("filters", k=3, namespace="manuals")
        assert hits and all(h.page is None for h in hits)
    finally:
        reopened.close()
    with sqlite3.connect(catalog) as db:
        assert {"page", "page_end"} <= {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
