"""Deterministic train/eval split: same data + same seed → same split, on any machine."""

from __future__ import annotations

import hashlib
import math

from training.records import ChatExample


def _rank(example: ChatExample, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{example.id}\x00{example.text()}".encode()).hexdigest()


def assign_splits(examples: list[ChatExample], eval_fraction: float, seed: int) -> list[ChatExample]:
    """Copies of ``examples`` with ``split`` set; examples that already carry a split keep it.

    ``ceil(n * eval_fraction)`` of the unassigned examples (at least one when the fraction is > 0
    and there are two or more) go to eval, chosen by a seeded hash, so the split does not depend on
    the order of the file.
    """
    undecided = [e for e in examples if e.split is None]
    n_eval = 0
    if eval_fraction > 0 and len(undecided) >= 2:
        n_eval = min(len(undecided) - 1, max(1, math.ceil(len(undecided) * eval_fraction)))
    eval_ids = {id(e) for e in sorted(undecided, key=lambda e: _rank(e, seed))[:n_eval]}
    result = []
    for example in examples:
        if example.split is not None:
            result.append(example)
        else:
            split = "eval" if id(example) in eval_ids else "train"
            result.append(example.model_copy(update={"split": split}))
    return result
