"""Measures of text extraction quality shared by the loader tests and
``benchmarks/bench_indexer_extractors.py``: words glued to their neighbours."""

from __future__ import annotations

import re
from functools import cache

WORD = re.compile(r"[a-z0-9åäöéü]+")
"""A lower-case word of the test documents (English and Swedish letters, digits)."""


def word_pieces(token: str, vocabulary: set[str]) -> int | None:
    """The fewest ``vocabulary`` words ``token`` splits into (one-letter pieces only "a"), or None."""

    @cache
    def fewest(start: int) -> int | None:
        if start == len(token):
            return 0
        options = [
            rest + 1
            for end in range(start + 1, len(token) + 1)
            if token[start:end] in vocabulary
            and (end - start > 1 or token[start] == "a")
            and (rest := fewest(end)) is not None
        ]
        return min(options, default=None)

    return fewest(0)


def glued_tokens(text: str, vocabulary: set[str]) -> list[tuple[str, int]]:
    """Tokens of ``text`` that are no ``vocabulary`` word but split into two or more of them, each
    with the number of words glued together in it."""
    glued = []
    for token in WORD.findall(text.lower()):
        if token in vocabulary or token.isdigit():
            continue
        pieces = word_pieces(token, vocabulary) or 0
        if pieces >= 2:
            glued.append((token, pieces))
    return glued
