"""Exact and near-duplicate detection of texts, for training examples and document chunks alike.

Exact: equal after lower-casing and ignoring punctuation and spacing (``content_hash``).
Near: Jaccard similarity of word shingles at or above a threshold. Candidates come from MinHash
LSH (``datasketch``; banded signatures, set a little below the threshold so near misses are still
found), so the work grows linearly with the number of texts even when many share common phrases;
every candidate is then verified with the exact Jaccard, and the earliest matching text is kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

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
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


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


NUM_PERM = 64
"""MinHash permutations per text (signature length)."""


@lru_cache(maxsize=1)
def _empty_minhash() -> Any:
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1)


def _minhash(grams: frozenset[str]) -> Any:
    signature = _empty_minhash().copy()  # shares the permutations instead of drawing them again
    signature.update_batch([g.encode() for g in grams])
    return signature


def find_duplicates(texts: list[str], threshold: float = 0.85, *, shingle_size: int = 3) -> list[Duplicate]:
    """Every later text that duplicates an earlier one, exactly or nearly (the first is kept)."""
    from datasketch import MinHashLSH

    duplicates: list[Duplicate] = []
    seen_exact: dict[str, int] = {}
    kept: dict[int, frozenset[str]] = {}
    lsh = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=NUM_PERM)
    for index, text in enumerate(texts):
        key = content_hash(text)
        if key in seen_exact:
            duplicates.append(Duplicate(index, seen_exact[key], "exact", 1.0))
            continue
        seen_exact[key] = index
        grams = shingles(text, shingle_size)
        if not grams:
            continue
        signature = _minhash(grams)
        match = None
        for other_index in sorted(lsh.query(signature)):
            similarity = jaccard(grams, kept[other_index])
            if similarity >= threshold:
                match = Duplicate(index, other_index, "near", round(similarity, 3))
                break
        if match is not None:
            duplicates.append(match)
            continue
        lsh.insert(index, signature)
        kept[index] = grams
    return duplicates


def duplicate_positions(texts: list[str], threshold: float = 0.9, *, shingle_size: int = 5) -> set[int]:
    """The positions of the texts ``find_duplicates`` drops."""
    return {d.index for d in find_duplicates(texts, threshold, shingle_size=shingle_size)}
