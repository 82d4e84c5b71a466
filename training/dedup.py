"""Exact and near-duplicate detection of training examples.

Exact: identical after lower-casing and removing punctuation and whitespace differences.
Near: Jaccard similarity of word 3-shingles at or above a threshold (0.85 by default). Pairs are
only compared when their shingle-set sizes allow that similarity, which keeps this fast for the
thousands of examples a brand-voice set has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case words joined by single spaces (punctuation and spacing ignored)."""
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, size: int = 3) -> frozenset[str]:
    """Word ``size``-grams of the normalised text (the words themselves for short texts)."""
    words = normalise(text).split()
    if len(words) <= size:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i:i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Duplicate:
    index: int
    """Position of the dropped item."""
    kept: int
    """Position of the earlier item it duplicates."""
    kind: str
    """``exact`` or ``near``."""
    similarity: float


def find_duplicates(texts: list[str], threshold: float = 0.85) -> list[Duplicate]:
    """Every later item that duplicates an earlier one (the first occurrence is kept)."""
    duplicates: list[Duplicate] = []
    seen_exact: dict[str, int] = {}
    kept: list[tuple[int, frozenset[str]]] = []
    for index, text in enumerate(texts):
        key = normalise(text)
        if key in seen_exact:
            duplicates.append(Duplicate(index, seen_exact[key], "exact", 1.0))
            continue
        seen_exact[key] = index
        grams = shingles(text)
        match = None
        for other_index, other in kept:
            small, large = sorted((len(grams), len(other)))
            if large == 0 or small / large < threshold:
                continue
            similarity = jaccard(grams, other)
            if similarity >= threshold:
                match = Duplicate(index, other_index, "near", round(similarity, 3))
                break
        if match is not None:
            duplicates.append(match)
        else:
            kept.append((index, grams))
    return duplicates
