"""Cost per query and the fine-tuning-vs-RAG break-even.

Every mode is a straight line: a one-off cost (training the adapter; zero for ``base``/``rag``)
plus a cost per query. RAG that imitates the brand voice through a style instruction pays the
instruction's extra prompt tokens on every query; the fine-tuned adapter paid once, at training.
The break-even is the number of queries where the two lines cross.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field


class CostLine(BaseModel):
    """One mode's cumulative cost: ``fixed_usd + queries × per_query_usd``."""

    name: str
    fixed_usd: float = Field(0.0, ge=0)
    per_query_usd: float = Field(ge=0)

    def cumulative(self, queries: float) -> float:
        """Total cost after ``queries`` queries."""
        return self.fixed_usd + queries * self.per_query_usd


class BreakEven(BaseModel):
    """Where ``candidate`` (usually fine-tuned) becomes cheaper than ``baseline`` (usually RAG)."""

    candidate: str
    baseline: str
    queries: float | None
    """Queries after which the candidate is cheaper; 0 when it always is; None when it never is."""
    saving_per_query_usd: float
    """baseline − candidate cost per query (negative: the candidate costs more per query)."""


def per_1k(per_query_usd: float) -> float:
    """Cost of 1,000 queries."""
    return per_query_usd * 1000.0


def training_cost_usd(train_seconds: float, usd_per_hour: float) -> float:
    """What a training run cost on a machine billed ``usd_per_hour``."""
    if train_seconds < 0 or usd_per_hour < 0:
        raise ValueError("train_seconds and usd_per_hour must not be negative")
    return train_seconds / 3600.0 * usd_per_hour


def usd_per_token(total_usd: float, tokens: float) -> float | None:
    """Effective price of one token from a measured total; None when no tokens were counted."""
    return total_usd / tokens if tokens > 0 else None


def break_even(candidate: CostLine, baseline: CostLine) -> BreakEven:
    """The number of queries at which ``candidate`` has cost less than ``baseline`` in total."""
    saving = baseline.per_query_usd - candidate.per_query_usd
    extra_fixed = candidate.fixed_usd - baseline.fixed_usd
    if extra_fixed <= 0 and saving >= 0:
        queries: float | None = 0.0
    elif saving <= 0:
        queries = None
    else:
        queries = extra_fixed / saving
    return BreakEven(candidate=candidate.name, baseline=baseline.name, queries=queries, saving_per_query_usd=saving)


def style_instruction_break_even(
    train_cost: float, extra_prompt_tokens_per_query: float, usd_per_input_token: float
) -> float | None:
    """Queries after which training an adapter costs less than sending a style instruction of
    ``extra_prompt_tokens_per_query`` tokens with every RAG query; None when the instruction is free."""
    per_query = extra_prompt_tokens_per_query * usd_per_input_token
    if per_query <= 0:
        return None
    return train_cost / per_query


def curve_points(lines: Sequence[CostLine], max_queries: float, points: int = 200) -> dict[str, list[float]]:
    """Cumulative cost of every line at ``points`` query counts from 0 to ``max_queries``
    (key ``"queries"`` holds the x values)."""
    if max_queries <= 0 or points < 2:
        raise ValueError("max_queries must be positive and points at least 2")
    xs = [max_queries * i / (points - 1) for i in range(points)]
    curves: dict[str, list[float]] = {"queries": xs}
    for line in lines:
        curves[line.name] = [line.cumulative(x) for x in xs]
    return curves


def horizon(break_evens: Sequence[BreakEven], default: float = 10_000.0) -> float:
    """A query range for plotting that shows every finite break-even (twice the largest)."""
    finite = [b.queries for b in break_evens if b.queries is not None and b.queries > 0]
    if not finite:
        return default
    top = 2.0 * max(finite)
    magnitude = 10 ** math.floor(math.log10(top))
    return math.ceil(top / magnitude) * magnitude
