"""Win rates from blind pairwise judgements: a Bradley-Terry fit with bootstrap confidence intervals.

Each judgement of a rating task gives pairwise outcomes between its contestants (a contestant is a
label: ``rag``, ``hybrid:zaragoza-voice@2``, …): the chosen answer beats every other answer of the
task, a tie ties every pair. The Bradley-Terry model gives each contestant a strength θ with
P(i beats j) = 1 / (1 + exp(θj − θi)), fitted as the maximum a posteriori under a small L2 prior (so a
contestant that won every game still gets a finite strength); a tie counts as half a win for each
side. The objective is ``choix.opt_pairwise``'s (the unit tests check the two agree), minimised by
scipy's Newton-CG on the aggregated win matrix, so a fit costs the same for ten judgements or a
million (choix walks every outcome in Python, too slow to refit for a bootstrap).

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

import numpy as np
from pydantic import BaseModel
from scipy.optimize import minimize

PRIOR = 0.05
"""The L2 prior's weight (``choix``'s alpha with each outcome entered twice): a weak pull of every strength
towards the average."""


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


def _fit(wins: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Bradley-Terry strengths (centred) from ``wins[i, j]``: how often i beat j, ties as half.

    The MAP estimate under the prior ``PRIOR`` (``choix.opt_pairwise``'s objective on each outcome
    entered twice), by Newton-CG on the aggregated counts: its cost does not grow with the number of
    judgements, which the bootstrap refits hundreds of times."""
    n = len(wins)
    if n < 2 or not wins.any():
        return np.zeros(n)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        diff = theta[:, None] - theta[None, :]
        value = PRIOR / 2 * float(theta @ theta) + float((wins * np.logaddexp(0.0, -diff)).sum())
        lost = wins / (1.0 + np.exp(diff))  # wins[i, j] * P(j beats i)
        return value, PRIOR * theta - lost.sum(axis=1) + lost.sum(axis=0)

    def hessian(theta: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
        s = wins * p * (1.0 - p)
        s = s + s.T
        return np.diag(s.sum(axis=1)) - s + PRIOR * np.eye(n)

    x0 = np.zeros(n) if start is None else start
    theta = minimize(objective, x0, jac=True, hess=hessian, method="Newton-CG", options={"xtol": 1e-10}).x
    return theta - theta.mean()


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
    if not per_task:
        return WinRateTable(judgements=0, confidence=confidence, bootstrap=bootstrap, contestants=[], pairs=[])
    labels = sorted({label for task in per_task for a, b, _ in task for label in (a, b)})
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    # each task's contribution to the win matrix; identical ones are counted once, with a weight
    contributions = np.zeros((len(per_task), n, n))
    for t, task in enumerate(per_task):
        for a, b, w in task:
            i, j = index[a], index[b]
            if w is None:
                contributions[t, i, j] += 0.5
                contributions[t, j, i] += 0.5
            elif w == a:
                contributions[t, i, j] += 1.0
            else:
                contributions[t, j, i] += 1.0
    kinds, which = np.unique(contributions.reshape(len(per_task), n * n), axis=0, return_inverse=True)
    kinds = kinds.reshape(-1, n, n)
    which = np.asarray(which).reshape(-1)
    wins = np.tensordot(np.bincount(which, minlength=len(kinds)).astype(float), kinds, axes=1)
    theta = _fit(wins)
    expected = _expected(theta)
    low, high = expected, expected
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = np.empty((bootstrap, n))
        for k in range(bootstrap):
            picked = which[rng.integers(0, len(per_task), len(per_task))]
            resampled = np.tensordot(np.bincount(picked, minlength=len(kinds)).astype(float), kinds, axes=1)
            samples[k] = _expected(_fit(resampled, theta))
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
