"""FAISS wrapper, BM25, fusion, filters and id rules — no model needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.catalog import filter_clause
from indexer.errors import InvalidRequestError
from indexer.lexical import LexicalIndex, reciprocal_rank_fusion
from indexer.pipeline import check_namespace, make_doc_id
from indexer.vector_index import VectorIndex
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.unit


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_vector_index_add_remove_filter_save(kind, tmp_path: Path):
    config = IndexSettings(kind=kind, ivf_nlist=8)
    vectors = unit_vectors(600)
    ids = np.arange(1000, 1600, dtype=np.int64)
    index = VectorIndex(32, config)
    index.add(ids, vectors)
    assert index.built_kind == kind
    found, scores = index.search(vectors[7], 3)
    assert found[0] == 1007 and scores[0] == pytest.approx(1.0, abs=1e-5)
    only, _ = index.search(vectors[7], 3, allowed=np.array([1100, 1200]))
    assert set(only) == {1100, 1200}
    index.remove([1007])
    found, _ = index.search(vectors[7], 3)
    assert 1007 not in found and index.size == 599
    index.save(tmp_path / "ns.faiss", generation=5)
    loaded = VectorIndex.load(tmp_path / "ns.faiss", 32, config)
    assert loaded is not None and loaded.size == 599
    assert 1007 not in set(loaded.ids())
    assert loaded.search(vectors[8], 1)[0][0] == 1008


def test_vector_index_ignores_a_file_of_another_kind(tmp_path: Path):
    index = VectorIndex(32, IndexSettings(kind="flat"))
    index.add(np.arange(5, dtype=np.int64), unit_vectors(5))
    index.save(tmp_path / "ns.faiss", generation=1)
    assert VectorIndex.load(tmp_path / "ns.faiss", 32, IndexSettings(kind="hnsw")) is None
    assert VectorIndex.load(tmp_path / "ns.faiss", 64, IndexSettings(kind="flat")) is None


def test_bm25_ranks_and_filters():
    lexical = LexicalIndex(
        np.array([10, 11, 12]),
        ["gutters must be cleaned in autumn", "windows with triple glazing", "cleaning gutters and downpipes"],
    )
    ids, scores, lookup = lexical.search("gutters", 5)
    assert set(ids) == {10, 12} and all(scores > 0)
    ids, _, _ = lexical.search("gutters", 5, allowed=np.array([12]))
    assert list(ids) == [12]
    assert len(lexical.search("zeppelin", 5)[0]) == 0


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert [item for item, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_filter_clause_validation():
    sql, params = filter_clause({"category": ["a", "b"], "source": "x"})
    assert "json_each" in sql and "d.source IN (?)" in sql and params == ["a", "b", "x"]
    for bad in ({"bad key'": 1}, {"k": {"nested": 1}}, {"k": []}):
        with pytest.raises(InvalidRequestError):
            filter_clause(bad)


def test_namespace_and_doc_id_rules():
    assert check_namespace("tenant-a_1.x") == "tenant-a_1.x"
    for bad in ("", "../etc", "a b", "x" * 65):
        with pytest.raises(InvalidRequestError):
            check_namespace(bad)
    assert make_doc_id("a", "/p/f.md") == make_doc_id("a", "/p/f.md")
    assert make_doc_id("a", "/p/f.md") != make_doc_id("b", "/p/f.md")


def test_at_most_n_chunks_per_section_in_the_top_k():
    from indexer.catalog import ChunkRow
    from indexer.retriever import StoreRetriever

    sections = {1: "A", 2: "A", 3: "A", 4: "B", 5: "C", 6: "A"}
    rows = {
        i: ChunkRow(id=i, doc_id="d", position=i, section=s, text="t", title="T", source="s", metadata={})
        for i, s in sections.items()
    }
    ranked = [(i, 1.0 / i) for i in sections]
    diverse = StoreRetriever(object(), per_section=1).diversify(ranked, rows, 3)  # type: ignore[arg-type]
    assert [i for i, _ in diverse] == [1, 4, 5, 2, 3, 6]  # one per section first, the rest keep their order
    assert [i for i, _ in StoreRetriever(object(), per_section=2).diversify(ranked, rows, 3)][:3] == [1, 2, 4]  # type: ignore[arg-type]
    assert StoreRetriever(object()).diversify(ranked, rows, 3) == ranked  # type: ignore[arg-type]


def test_pages_of_one_section_count_apart_for_diversity():
    from indexer.catalog import ChunkRow
    from indexer.retriever import StoreRetriever

    pages = {1: 10, 2: 10, 3: 11, 4: 12}
    rows = {
        i: ChunkRow(id=i, doc_id="d", position=i, section="S", text="t", title="T", source="s", metadata={}, page=p)
        for i, p in pages.items()
    }
    ranked = [(i, 1.0 / i) for i in pages]
    diverse = StoreRetriever(object(), per_section=1).diversify(ranked, rows, 3)  # type: ignore[arg-type]
    assert [i for i, _ in diverse] == [1, 3, 4, 2]  # one chunk per page of the long section


def test_navigation_chunks_go_last_when_demoted():
    from indexer.catalog import ChunkRow
    from indexer.retriever import StoreRetriever

    toc = "1 Intro . . . . . . . . 1\n2 Install . . . . . . . 4\n3 Use . . . . . . . . . 9"
    texts = {1: toc, 2: "Install the unit on a wall.", 3: toc, 4: "Use the remote."}
    rows = {
        i: ChunkRow(id=i, doc_id="d", position=i, section="", text=t, title="T", source="s", metadata={})
        for i, t in texts.items()
    }
    ranked = [(i, 1.0 / i) for i in texts]
    assert [i for i, _ in StoreRetriever(object(), demote_navigation=True).demote(ranked, rows)] == [2, 4, 1, 3]  # type: ignore[arg-type]
    assert StoreRetriever(object()).demote(ranked, rows) == ranked  # type: ignore[arg-type]
