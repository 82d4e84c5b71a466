"""Exact and near-duplicate detection of texts, for training examples and document chunks alike.

Exact: equal after lower-casing and ignoring punctuation and spacing (``content_hash``).
Near: Jaccard similarity of word shingles at or above a threshold. Candidates come from an
inverted index of shingles, so only texts that share a shingle are ever compared, and the earliest
matching text is the one kept.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Literal

_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case words joined by single spaces (punctuation and spacing ignored)."""
    return " ".join(_WORD.findall(text.lower()))


def content_hash(text: str) -> str:
    """sha256 of the normalised text (equal for trivially different copies)."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()


def shingles(text: str, size: int = 3) -> frozenset[str]:
    """Word ``size``-grams of the normalised text (the whole text as one shingle when shorter;
    none for a text without words)."""
    words = normalise(text).split()
    if len(words) <= size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i:i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Duplicate:
    index: int
    """Position of the dropped item."""
    kept: int
    """Position of the earlier item it duplicates."""
    kind: Literal["exact", "near"]
    similarity: float


def find_duplicates(texts: list[str], threshold: float = 0.85, *, shingle_size: int = 3) -> list[Duplicate]:
    """Every later text that duplicates an earlier one, exactly or nearly (the first is kept)."""
    duplicates: list[Duplicate] = []
    seen_exact: dict[str, int] = {}
    kept: list[tuple[int, frozenset[str]]] = []
    postings: dict[str, list[int]] = defaultdict(list)
    for index, text in enumerate(texts):
        key = content_hash(text)
        if key in seen_exact:
            duplicates.append(Duplicate(index, seen_exact[key], "exact", 1.0))
            continue
        seen_exact[key] = index
        grams = shingles(text, shingle_size)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(postings.get(gram, ()))
        match = None
        for slot in sorted(shared):
            other_index, other = kept[slot]
            union = len(grams) + len(other) - shared[slot]
            if union and shared[slot] / union >= threshold:
                match = Duplicate(index, other_index, "near", round(shared[slot] / union, 3))
                break
        if match is not None:
            duplicates.append(match)
            continue
        for gram in grams:
            postings[gram].append(len(kept))
        kept.append((index, grams))
    return duplicates


def duplicate_positions(texts: list[str], threshold: float = 0.9, *, shingle_size: int = 5) -> set[int]:
    """The positions of the texts ``find_duplicates`` drops."""
    return {d.index for d in find_duplicates(texts, threshold, shingle_size=shingle_size)}
