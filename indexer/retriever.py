"""Retrieval over a ``DocumentStore``: dense (FAISS cosine), BM25, fusion (RRF) and re-ranking.

Like Haystack 2.x's retriever components, a retriever is one small object with one ``run`` method
(the ``Retriever`` protocol): the gateway holds one, ``DocumentStore.search`` builds one per call.
``StoreRetriever`` is the one implementation; each stage is its own method so a caller (or a
benchmark) can run one alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from indexer.catalog import Catalog, ChunkRow
from indexer.embedder import Reranker
from indexer.errors import InvalidRequestError
from indexer.lexical import reciprocal_rank_fusion
from indexer.navigation import is_navigation
from indexer.pipeline import check_namespace
from indexer.schemas import SearchHit, SearchMode

if TYPE_CHECKING:
    from indexer.store import DocumentStore

MAX_K = 100
SEARCH_MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")


@runtime_checkable
class Retriever(Protocol):
    """Finds the chunks that answer a query."""

    def run(
        self, query: str, *, k: int = 4, namespace: str = "default", filters: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """The ``k`` best chunks of ``namespace`` for ``query``, best first."""
        ...


class StoreRetriever:
    """Dense, BM25 or hybrid (reciprocal rank fusion of both) search of a store, then an optional
    cross-encoder re-rank of the candidates."""

    def __init__(
        self,
        store: DocumentStore,
        *,
        mode: SearchMode = "hybrid",
        candidates: int = 50,
        rrf_k: int = 60,
        reranker: Reranker | None = None,
        per_section: int | None = None,
        demote_navigation: bool = False,
    ) -> None:
        if mode not in SEARCH_MODES:
            raise InvalidRequestError(f"unknown search mode {mode!r} ({', '.join(SEARCH_MODES)})")
        self.store = store
        self.mode = mode
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.reranker = reranker
        self.per_section = per_section
        self.demote_navigation = demote_navigation

    def run(
        self, query: str, *, k: int = 4, namespace: str = "default", filters: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """The ``k`` best chunks of ``namespace`` for ``query``, best first.

        ``filters``: equality on doc_id / source / title / format or user metadata (a list value
        means any of).
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidRequestError("the query is empty")
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidRequestError(f"k must be between 1 and {MAX_K}")
        check_namespace(namespace)
        with self.store.reading() as catalog:
            if catalog is None:
                return []
            allowed = catalog.chunk_ids(namespace, filters) if filters else None
            if allowed is not None and len(allowed) == 0:
                return []
            n = max(self.candidates, k)
            query_vector, dense = (
                self.dense(query, namespace, n, allowed) if self.mode in ("dense", "hybrid") else (None, {})
            )
            bm25_ranking, bm25 = (
                self.bm25(query, namespace, n, allowed) if self.mode in ("bm25", "hybrid") else ([], {})
            )
            ranked = self.fuse(list(dense), bm25_ranking, dense, bm25)
            rows = catalog.chunk_rows(i for i, _ in ranked)
            ranked = [(i, s) for i, s in ranked if i in rows]
            if query_vector is not None:
                self._score_unscored(catalog, query_vector, ranked, dense)
        ranked = self.diversify(self.demote(self.rerank(query, ranked, rows), rows), rows, k)
        return [_hit(rows[i], score, dense.get(i), bm25.get(i)) for i, score in ranked[:k]]

    # --- stages ---------------------------------------------------------------------------
    def dense(
        self, query: str, namespace: str, n: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray | None, dict[int, float]]:
        """(query vector, chunk id → cosine) of the ``n`` nearest chunks, nearest first."""
        vectors = self.store.vectors_for(namespace)
        if vectors is None:
            return None, {}
        query_vector = self.store.embedder.encode_query([query])[0]
        ids, scores = vectors.search(query_vector, n, allowed)
        return query_vector, {int(i): float(s) for i, s in zip(ids, scores, strict=True)}

    def bm25(
        self, query: str, namespace: str, n: int, allowed: np.ndarray | None
    ) -> tuple[list[int], dict[int, float]]:
        """(the ``n`` best lexical matches, best first; chunk id → BM25 score of every match)."""
        lexical = self.store.lexical_for(namespace)
        if lexical is None:
            return [], {}
        ids, _scores, scores = lexical.search(query, n, allowed)
        return [int(i) for i in ids], scores

    def fuse(
        self, dense_ranking: list[int], bm25_ranking: list[int], dense: dict[int, float], bm25: dict[int, float]
    ) -> list[tuple[int, float]]:
        """The ranking of this retriever's mode: one list with its scores, or both fused by RRF."""
        if self.mode == "dense":
            return [(i, dense[i]) for i in dense_ranking]
        if self.mode == "bm25":
            return [(i, bm25[i]) for i in bm25_ranking]
        return reciprocal_rank_fusion([dense_ranking, bm25_ranking], self.rrf_k)

    def rerank(self, query: str, ranked: list[tuple[int, float]], rows: dict[int, ChunkRow]) -> list[tuple[int, float]]:
        """The candidates re-scored by the cross-encoder (unchanged without one)."""
        if self.reranker is None or not ranked:
            return ranked
        scores = self.reranker.scores(query, [rows[i].text for i, _ in ranked])
        return sorted(zip((i for i, _ in ranked), scores, strict=True), key=lambda p: -p[1])

    def demote(self, ranked: list[tuple[int, float]], rows: dict[int, ChunkRow]) -> list[tuple[int, float]]:
        """Navigation chunks (tables of contents, indexes: ``indexer.navigation``) after the others,
        each group in its order (unchanged unless ``demote_navigation``)."""
        if not self.demote_navigation:
            return ranked
        navigation = {i for i, _ in ranked if is_navigation(rows[i].text)}
        return [p for p in ranked if p[0] not in navigation] + [p for p in ranked if p[0] in navigation]

    def diversify(self, ranked: list[tuple[int, float]], rows: dict[int, ChunkRow], k: int) -> list[tuple[int, float]]:
        """At most ``per_section`` chunks of one section (document + heading + page) among the first ``k``,
        so five chunks of one page do not crowd out the second-best page; the rest follow, in order,
        to fill ``k`` when there are not enough sections (unchanged when ``per_section`` is None)."""
        if self.per_section is None:
            return ranked
        seen: dict[tuple[str, str | None, int | None], int] = {}
        first: list[tuple[int, float]] = []
        rest: list[tuple[int, float]] = []
        for i, score in ranked:
            key = (rows[i].doc_id, rows[i].section, rows[i].page)
            seen[key] = seen.get(key, 0) + 1
            (first if seen[key] <= self.per_section and len(first) < k else rest).append((i, score))
        return first + rest

    @staticmethod
    def _score_unscored(
        catalog: Catalog, query_vector: np.ndarray, ranked: list[tuple[int, float]], dense: dict[int, float]
    ) -> None:
        """Give every ranked chunk a dense cosine (BM25-only finds too): relevance needs it."""
        unscored = [i for i, _ in ranked if i not in dense]
        if unscored:
            ids, vecs = catalog.embeddings(unscored)
            dense.update(zip((int(i) for i in ids), (float(v) for v in vecs @ query_vector), strict=True))


def _hit(row: ChunkRow, score: float, dense_score: float | None, bm25_score: float | None) -> SearchHit:
    return SearchHit(
        doc_id=row.doc_id,
        chunk_id=f"{row.doc_id}:{row.position}",
        title=row.title,
        section=row.section,
        source=row.source,
        text=row.text,
        score=float(score),
        dense_score=dense_score,
        bm25_score=bm25_score,
        page=row.page,
        page_end=row.page_end,
        metadata=row.metadata,
    )
