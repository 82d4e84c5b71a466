"""Power loss: a FAISS file that no longer matches the catalog (lost commits, chunk ids reused) is
rebuilt from the catalog on load, and the rebuild is logged."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer import DocumentStore
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.integration
A = b"# Windows\n\nTriple-glazed windows keep a house warm in winter and quiet all year round."
B = b"# Roofs\n\nClay roof tiles last about sixty years when the battens underneath stay dry."
C = b"# Heat pumps\n\nA ground-source heat pump needs a borehole about one hundred and fifty metres deep."


def test_mismatched_vectors_file_is_rebuilt_from_the_catalog(
    tmp_path: Path, embedder_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = tmp_path / "index"
    config = IndexSettings()
    with DocumentStore.open(index, embedder_path, config) as store:
        store.add_bytes("windows.md", A)
    shutil.copy(index / "catalog.sqlite3", tmp_path / "catalog-after-a.sqlite3")
    with DocumentStore.open(index, embedder_path, config) as store:
        store.add_bytes("roofs.md", B)  # committed and saved, then lost with the power
    shutil.copytree(index / "vectors", tmp_path / "vectors-with-b")
    shutil.copy(tmp_path / "catalog-after-a.sqlite3", index / "catalog.sqlite3")
    with DocumentStore.open(index, embedder_path, config) as store:
        store.add_bytes("heat-pumps.md", C)  # reuses B's chunk ids in the rolled-back catalog
    shutil.rmtree(index / "vectors")  # ... and the power goes again before its vectors were saved
    shutil.copytree(tmp_path / "vectors-with-b", index / "vectors")

    caplog.set_level(logging.WARNING, logger="indexer.store")
    with DocumentStore.open(index, embedder_path, config) as store:
        hits = store.search("how deep is the borehole of a heat pump", k=1, mode="dense")
        catalog = store.catalog
        assert catalog is not None
        ids = catalog.chunk_ids("default")
        stored_ids, stored = catalog.embeddings(ids)
        vectors = store.vectors_for("default")
        assert vectors is not None
        served = np.vstack([vectors.index.reconstruct(int(i)) for i in stored_ids])
    assert np.allclose(served, stored, atol=1e-5)  # every vector is the catalog's, none of B's
    assert hits and hits[0].source == "heat-pumps.md"
    assert any("rebuilding it from the catalog" in r.getMessage() for r in caplog.records)


def test_matching_vectors_file_is_used_as_saved(
    tmp_path: Path, embedder_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = tmp_path / "index"
    with DocumentStore.open(index, embedder_path, IndexSettings()) as store:
        store.add_bytes("windows.md", A)
    caplog.set_level(logging.WARNING, logger="indexer.store")
    with DocumentStore.open(index, embedder_path, IndexSettings()) as store:
        assert store.search("warm windows", k=1)[0].source == "windows.md"
    assert not any("rebuilding" in r.getMessage() for r in caplog.records)
