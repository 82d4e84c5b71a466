"""BM25 over one namespace's chunks with bm25s, plus reciprocal rank fusion."""

from __future__ import annotations

from typing import Any

import numpy as np


def _tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


class LexicalIndex:
    """A BM25 index of the given texts; scores are looked up by chunk id."""

    def __init__(self, ids: np.ndarray, texts: list[str]) -> None:
        import bm25s

        self.ids = np.asarray(ids, dtype=np.int64)
        self.retriever: Any = None
        if len(texts):
            self.retriever = bm25s.BM25()
            self.retriever.index(_tokenize(texts), show_progress=False)
        self._position = {int(chunk_id): i for i, chunk_id in enumerate(self.ids)}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (aligned with ``self.ids``); zeros when no query term is known."""
        if self.retriever is None:
            return np.zeros(0, dtype=np.float32)
        vocabulary = self.retriever.vocab_dict
        tokens = [t for t in _tokenize([query])[0] if t in vocabulary]
        if not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, n: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
        """Best ``n`` (ids, scores) with a positive score, and a lookup of every chunk's score."""
        scores = self.scores(query)
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), {}
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            positions = [self._position[int(i)] for i in allowed if int(i) in self._position]
            mask[positions] = True
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > n:
            candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        lookup = {int(self.ids[p]): float(scores[p]) for p in np.flatnonzero(scores > 0)}
        return self.ids[order], scores[order], lookup


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank from 1; best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
