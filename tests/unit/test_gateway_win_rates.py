"""Bradley-Terry win rates with bootstrap intervals on known outcome sets (no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.gateway.win_rates import PRIOR, Judgement, pairwise, win_rates

pytestmark = pytest.mark.unit


def games(a: str, b: str, a_wins: int, b_wins: int, ties: int = 0) -> list[Judgement]:
    return [Judgement((a, b), a)] * a_wins + [Judgement((b, a), b)] * b_wins + [Judgement((a, b), None)] * ties


def by_name(table):
    return {row.contestant: row for row in table.contestants}


def test_two_contestants_get_the_head_to_head_share() -> None:
    # the maximum-likelihood Bradley-Terry fit of 3 wins in 4 is P(a beats b) = 3/4 (the prior pulls it
    # a little towards 1/2)
    table = win_rates(games("rag", "hybrid:voice@2", 1, 3), bootstrap=300)
    rows = by_name(table)
    hybrid, rag = rows["hybrid:voice@2"], rows["rag"]
    assert (hybrid.games, hybrid.wins, hybrid.losses, hybrid.ties, hybrid.win_rate) == (4, 3, 1, 0, 0.75)
    assert hybrid.expected_win_rate == pytest.approx(0.75, abs=0.01)
    assert rag.expected_win_rate == pytest.approx(1 - hybrid.expected_win_rate, abs=1e-3)
    assert hybrid.strength == pytest.approx(-rag.strength) and hybrid.strength > 0
    assert [r.contestant for r in table.contestants] == ["hybrid:voice@2", "rag"]  # best first
    assert hybrid.ci_low < hybrid.expected_win_rate < hybrid.ci_high
    assert 0.0 < hybrid.ci_low and hybrid.ci_high <= 1.0
    assert table.pairs[0].model_dump() == {"a": "hybrid:voice@2", "b": "rag", "a_wins": 3, "b_wins": 1, "ties": 0}


def test_ties_count_half_and_a_balanced_record_is_even() -> None:
    rows = by_name(win_rates(games("a", "b", 2, 2, ties=4), bootstrap=50))
    assert rows["a"].win_rate == 0.5 and rows["a"].ties == 4
    assert rows["a"].expected_win_rate == pytest.approx(0.5, abs=1e-6)
    assert rows["a"].strength == pytest.approx(0.0, abs=1e-6)
    # a tie is worth half a win: 1 win and 2 ties score like 2 wins and 1 loss (2 of 3 points)
    one_win_two_ties = by_name(win_rates(games("a", "b", 1, 0, ties=2), bootstrap=0))
    two_wins_one_loss = by_name(win_rates(games("a", "b", 2, 1), bootstrap=0))
    assert one_win_two_ties["a"].win_rate == pytest.approx(2 / 3, abs=1e-4)
    assert one_win_two_ties["a"].strength == pytest.approx(two_wins_one_loss["a"].strength, abs=1e-3)


def test_three_contestants_satisfy_the_bradley_terry_score_equations() -> None:
    # at the fit, each contestant's expected wins equal its observed wins (ties half), up to the prior
    judgements = games("a", "b", 6, 2) + games("b", "c", 5, 3) + games("a", "c", 7, 1, ties=2)
    table = win_rates(judgements, bootstrap=0)
    rows = by_name(table)
    assert [r.contestant for r in table.contestants] == ["a", "b", "c"]
    theta = {name: row.strength for name, row in rows.items()}
    played = {("a", "b"): 8, ("b", "c"): 8, ("a", "c"): 10}
    for name, row in rows.items():
        expected = sum(
            n / (1 + math.exp(theta[other] - theta[name]))
            for pair, n in played.items()
            if name in pair
            for other in pair
            if other != name
        )
        assert expected == pytest.approx(row.wins + row.ties / 2, abs=0.1)
    assert sum(theta.values()) == pytest.approx(0.0, abs=1e-9)
    # expected win rate: the mean chance to beat each of the two others
    p_ab = 1 / (1 + math.exp(theta["b"] - theta["a"]))
    p_ac = 1 / (1 + math.exp(theta["c"] - theta["a"]))
    assert rows["a"].expected_win_rate == pytest.approx((p_ab + p_ac) / 2, abs=1e-4)


def test_bootstrap_is_reproducible_and_narrows_with_more_judgements() -> None:
    few = win_rates(games("a", "b", 3, 1), bootstrap=200)
    assert few == win_rates(games("a", "b", 3, 1), bootstrap=200)  # seeded
    many = win_rates(games("a", "b", 30, 10), bootstrap=200)
    width = lambda table: by_name(table)["a"].ci_high - by_name(table)["a"].ci_low  # noqa: E731
    assert width(many) < width(few)
    assert by_name(many)["a"].ci_low > 0.5  # 30 of 40 is clearly better than even


def test_multi_answer_tasks_give_the_winner_a_win_over_each_other_answer() -> None:
    assert pairwise(Judgement(("a", "b", "c"), "b")) == [("a", "b", "b"), ("b", "c", "b")]
    assert pairwise(Judgement(("a", "b", "c"), None)) == [("a", "b", None), ("a", "c", None), ("b", "c", None)]
    assert pairwise(Judgement(("ft", "ft"), "ft")) == []  # one label on both sides says nothing
    empty = win_rates([], bootstrap=10)
    assert empty.contestants == [] and empty.judgements == 0


def test_the_fit_agrees_with_choix() -> None:
    """The reference implementation (choix, MAP with the same prior, every outcome entered twice
    and a tie once each way) gives the same strengths."""
    choix = pytest.importorskip("choix")
    judgements = games("a", "b", 6, 2, ties=1) + games("b", "c", 5, 3) + games("a", "c", 7, 1, ties=2)
    judgements += [Judgement(("a", "b", "c"), "c"), Judgement(("a", "b", "c"), None)]
    labels = ["a", "b", "c"]
    data = []
    for judgement in judgements:
        for a, b, winner in pairwise(judgement):
            i, j = labels.index(a), labels.index(b)
            if winner is None:
                data += [(i, j), (j, i)]
            else:
                w, loser = (i, j) if winner == a else (j, i)
                data += [(w, loser), (w, loser)]
    reference = np.asarray(choix.opt_pairwise(3, data, alpha=PRIOR))
    reference -= reference.mean()
    rows = by_name(win_rates(judgements, bootstrap=0))
    assert [rows[name].strength for name in labels] == pytest.approx(list(reference), abs=1e-3)
