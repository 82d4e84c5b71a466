"""BM25 over one namespace's chunks with bm25s, plus reciprocal rank fusion.

Each chunk is tokenized in its own language: that language's stopwords (bm25s' lists) and Snowball
stemmer (PyStemmer), the language set in the settings (``index.language``) or detected per chunk
(py3langid, among ``LANGUAGES``). A query is tokenized in every language of the index (and its
own), so a Swedish question meets Swedish stems and an English one English stems.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

LANGUAGES = {
    "en": "english",
    "sv": "swedish",
    "it": "italian",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "da": "danish",
    "no": "norwegian",
    "nl": "dutch",
    "pt": "portuguese",
}
"""ISO 639-1 code -> Snowball stemmer; every one has a bm25s stopword list."""
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str, default: str = DEFAULT_LANGUAGE) -> str:
    """The language code of ``text`` among ``LANGUAGES`` (``default`` for text too short to tell)."""
    if len(text.split()) < 3:
        return default
    language, probability = _identifier().classify(text)
    return language if probability >= 0.5 else default


@lru_cache(maxsize=len(LANGUAGES))
def _stemmer(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(LANGUAGES[language])


def tokenize(texts: list[str], language: str) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed tokens of ``texts`` in ``language``."""
    import bm25s

    if language not in LANGUAGES:
        raise ValueError(f"unsupported language '{language}' (supported: {', '.join(LANGUAGES)})")
    return bm25s.tokenize(texts, stopwords=language, stemmer=_stemmer(language), return_ids=False, show_progress=False)


class LexicalIndex:
    """A BM25 index of the given texts; scores are looked up by chunk id."""

    def __init__(self, ids: np.ndarray, texts: list[str], language: str | None = None) -> None:
        """``language`` None: detect each chunk's language."""
        import bm25s

        self.ids = np.asarray(ids, dtype=np.int64)
        self.retriever: Any = None
        self.language = language
        self.languages = [language or detect_language(text) for text in texts]
        if len(texts):
            tokens: list[list[str]] = [[] for _ in texts]
            for lang in sorted(set(self.languages)):
                positions = [i for i, chunk_lang in enumerate(self.languages) if chunk_lang == lang]
                for position, chunk_tokens in zip(
                    positions, tokenize([texts[i] for i in positions], lang), strict=True
                ):
                    tokens[position] = chunk_tokens
            self.retriever = bm25s.BM25()
            self.retriever.index(tokens, show_progress=False)
        self._position = {int(chunk_id): i for i, chunk_id in enumerate(self.ids)}

    def query_tokens(self, query: str) -> list[str]:
        """The query's tokens in each language of the index and its own, without repeats."""
        languages = {self.language} if self.language else {*self.languages, detect_language(query)}
        seen: dict[str, None] = {}
        for language in sorted(languages):
            seen.update(dict.fromkeys(tokenize([query], language)[0]))
        return list(seen)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (aligned with ``self.ids``); zeros when no query term is known."""
        if self.retriever is None:
            return np.zeros(0, dtype=np.float32)
        vocabulary = self.retriever.vocab_dict
        tokens = [t for t in self.query_tokens(query) if t in vocabulary]
        if not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def search(
        self, query: str, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
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
