"""Win rates from blind pairwise judgements: a Bradley-Terry fit with bootstrap confidence intervals.

Each judgement of a rating task gives pairwise outcomes between its contestants (a contestant is a
label: ``rag``, ``hybrid:zaragoza-voice@2``, …): the chosen answer beats every other answer of the
task, a tie ties every pair. The Bradley-Terry model gives each contestant a strength θ with
P(i beats j) = 1 / (1 + exp(θj − θi)); ``choix.opt_pairwise`` fits it (maximum a posteriori with a
small L2 prior, so a contestant that won every game still gets a finite strength). A tie counts as
half a win for each side (each decisive outcome enters twice, a tie once in each direction).

Reported per contestant: games, wins, ties, losses, the raw win rate (ties half), the strength
(centred on 0) and the **expected win rate**: its modelled chance to beat a contestant drawn from
the others, the mean of P(i beats j) over every other j (with two contestants, the head-to-head
chance), with a percentile bootstrap interval: the tasks are resampled with replacement and the
model refit each time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import choix
import numpy as np
from pydantic import BaseModel

PRIOR = 0.05
"""choix's L2 regularisation (alpha): a weak pull of every strength towards the average."""


@dataclass(frozen=True)
class Judgement:
    """One judged task: its contestants (labels, one per answer) and the winner (None: a tie)."""

    contestants: tuple[str, ...]
    winner: str | None


class WinRate(BaseModel):
    contestant: str
    games: int
    """Pairwise games: a judged task of n answers gives each of them n − 1 games."""
    wins: int
    ties: int
    losses: int
    win_rate: float
    """(wins + ties / 2) / games, as observed."""
    strength: float
    """Bradley-Terry log-strength (the contestants' mean is 0)."""
    expected_win_rate: float
    """Modelled chance to beat one of the other contestants (their mean)."""
    ci_low: float
    ci_high: float
    """The bootstrap interval of ``expected_win_rate``."""


class PairRecord(BaseModel):
    a: str
    b: str
    a_wins: int
    b_wins: int
    ties: int


class WinRateTable(BaseModel):
    judgements: int
    confidence: float
    bootstrap: int
    contestants: list[WinRate]
    """Best first (by expected win rate)."""
    pairs: list[PairRecord]


def pairwise(judgement: Judgement) -> list[tuple[str, str, str | None]]:
    """The task as pairwise outcomes (a, b, winner or None for a tie): the winner beats each other
    answer, a tie ties every pair; pairs of one label, and of two losers, say nothing."""
    labels = judgement.contestants
    outcomes: list[tuple[str, str, str | None]] = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            if a == b:
                continue
            if judgement.winner is None:
                outcomes.append((a, b, None))
            elif judgement.winner in (a, b):
                outcomes.append((a, b, judgement.winner))
            # else a third answer won: the task says nothing of a against b
    return outcomes


def _fit(n: int, outcomes: Sequence[tuple[int, int, int | None]]) -> np.ndarray:
    """Bradley-Terry strengths (centred) of ``n`` contestants from (a, b, winner-or-None) index triples."""
    data: list[tuple[int, int]] = []
    for a, b, winner in outcomes:
        if winner is None:
            data += [(a, b), (b, a)]
        else:
            loser = b if winner == a else a
            data += [(winner, loser), (winner, loser)]
    if not data or n < 2:
        return np.zeros(n)
    params = np.asarray(choix.opt_pairwise(n, data, alpha=PRIOR), dtype=float)
    return params - params.mean()


def _expected(theta: np.ndarray) -> np.ndarray:
    """Each contestant's mean chance to beat each other contestant (0.5 when alone)."""
    n = len(theta)
    if n < 2:
        return np.full(n, 0.5)
    beats = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # beats[i, j] = P(i beats j)
    return (beats.sum(axis=1) - 0.5) / (n - 1)  # less the diagonal's 0.5


def win_rates(
    judgements: Sequence[Judgement], *, bootstrap: int = 200, confidence: float = 0.95, seed: int = 0
) -> WinRateTable:
    """Fit Bradley-Terry to the judgements and bootstrap its expected win rates (seeded: the same
    judgements give the same table)."""
    per_task = [task for task in map(pairwise, judgements) if task]
    labels = sorted({label for task in per_task for a, b, _ in task for label in (a, b)})
    index = {label: i for i, label in enumerate(labels)}
    encoded = [[(index[a], index[b], None if w is None else index[w]) for a, b, w in task] for task in per_task]
    theta = _fit(len(labels), [o for task in encoded for o in task])
    low = high = _expected(theta)
    if bootstrap > 0 and encoded:
        rng = np.random.default_rng(seed)
        samples = np.empty((bootstrap, len(labels)))
        for k in range(bootstrap):
            picked = rng.integers(0, len(encoded), len(encoded))
            samples[k] = _expected(_fit(len(labels), [o for i in picked for o in encoded[i]]))
        tail = (1.0 - confidence) / 2 * 100
        low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    tally: Counter[tuple[str, str]] = Counter()
    pairs: dict[tuple[str, str], list[int]] = {}
    for task in per_task:
        for a, b, w in task:
            for label in (a, b):
                tally[(label, "games")] += 1
            if w is None:
                tally[(a, "ties")] += 1
                tally[(b, "ties")] += 1
            else:
                tally[(w, "wins")] += 1
                tally[(b if w == a else a, "losses")] += 1
            key = (a, b) if a < b else (b, a)
            record = pairs.setdefault(key, [0, 0, 0])
            record[2 if w is None else (0 if w == key[0] else 1)] += 1
    expected = _expected(theta)
    rows = [
        WinRate(
            contestant=label,
            games=tally[(label, "games")],
            wins=tally[(label, "wins")],
            ties=tally[(label, "ties")],
            losses=tally[(label, "losses")],
            win_rate=round((tally[(label, "wins")] + tally[(label, "ties")] / 2) / tally[(label, "games")], 4),
            strength=round(float(theta[i]), 4),
            expected_win_rate=round(float(expected[i]), 4),
            ci_low=round(float(min(low[i], expected[i])), 4),
            ci_high=round(float(max(high[i], expected[i])), 4),
        )
        for i, label in enumerate(labels)
    ]
    rows.sort(key=lambda r: (-r.expected_win_rate, r.contestant))
    return WinRateTable(
        judgements=len(per_task),
        confidence=confidence,
        bootstrap=bootstrap,
        contestants=rows,
        pairs=[PairRecord(a=a, b=b, a_wins=v[0], b_wins=v[1], ties=v[2]) for (a, b), v in sorted(pairs.items())],
    )
