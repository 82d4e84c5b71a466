"""Derived figures from bench level summaries: gateway overhead, adapter overhead, break-even.

Inputs are the plain dicts of ``LevelResult.summary()`` (as stored in results.json), so a report
can be recomputed from the file alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.evaluation import costs
from services.evaluation.style import STYLED_RAG
from services.modes import Mode

Summary = dict[str, Any]


def _find(summaries: list[Summary], *, name: str, concurrency: int, target: str = "gateway") -> Summary | None:
    for summary in summaries:
        if summary["name"] == name and summary["concurrency"] == concurrency and summary["target"] == target:
            return summary
    return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def gateway_overhead(summaries: list[Summary], base_name: str = "base") -> list[dict[str, Any]]:
    """Per concurrency: the gateway's ``base`` mode against the same questions sent to the engine."""
    rows = []
    for engine in (s for s in summaries if s["target"] == "engine"):
        gateway = _find(summaries, name=base_name, concurrency=engine["concurrency"])
        if gateway is None:
            continue
        rows.append(
            {
                "concurrency": engine["concurrency"],
                "gateway_output_throughput": gateway["output_throughput"],
                "engine_output_throughput": engine["output_throughput"],
                "throughput_ratio": _ratio(gateway["output_throughput"], engine["output_throughput"]),
                "gateway_median_ttft_ms": gateway["median_ttft_ms"],
                "engine_median_ttft_ms": engine["median_ttft_ms"],
                "added_median_ttft_ms": _difference(gateway["median_ttft_ms"], engine["median_ttft_ms"]),
                "gateway_median_e2el_ms": gateway["median_e2el_ms"],
                "engine_median_e2el_ms": engine["median_e2el_ms"],
                "added_median_e2el_ms": _difference(gateway["median_e2el_ms"], engine["median_e2el_ms"]),
                "gateway_prompt_tokens_per_query": gateway["prompt_tokens_per_query"],
                "engine_prompt_tokens_per_query": engine["prompt_tokens_per_query"],
            }
        )
    return sorted(rows, key=lambda row: row["concurrency"])


def adapter_overhead(summaries: list[Summary]) -> list[dict[str, Any]]:
    """At each concurrency that has them: base vs each ``ft`` adapter vs the base+adapters mix."""
    rows = []
    for base in (s for s in summaries if s["name"] == "base" and s["target"] == "gateway"):
        concurrency = base["concurrency"]
        others = [
            s
            for s in summaries
            if s["concurrency"] == concurrency
            and s["target"] == "gateway"
            and (s["name"].startswith("ft:") or s["name"].startswith("mixed:"))
        ]
        if not others:
            continue
        for summary in [base, *others]:
            rows.append(
                {
                    "concurrency": concurrency,
                    "name": summary["name"],
                    "output_throughput": summary["output_throughput"],
                    "throughput_vs_base": _ratio(summary["output_throughput"], base["output_throughput"]),
                    "median_ttft_ms": summary["median_ttft_ms"],
                    "ttft_vs_base": _ratio(summary["median_ttft_ms"], base["median_ttft_ms"]),
                    "median_tpot_ms": summary["median_tpot_ms"],
                    "median_e2el_ms": summary["median_e2el_ms"],
                }
            )
    return rows


class BreakEvenResult(BaseModel):
    """The FT-vs-RAG break-even, from the training cost and the measured per-query costs."""

    train_cost_usd: float
    train_seconds: float | None = None
    train_source: str
    """Where the training cost came from (an adapter card, or an assumption)."""
    concurrency: int
    extra_prompt_tokens_per_query: float | None = None
    """Prompt tokens that ``rag+style`` sends beyond ``hybrid`` (both carry the same context)."""
    style_instruction_tokens: float | None = None
    """Prompt tokens that ``rag+style`` sends beyond plain ``rag``: the instruction alone."""
    usd_per_input_token: float | None = None
    token_model_queries: float | None = None
    """Break-even counting only the extra prompt tokens at the measured input price."""
    lines: list[costs.CostLine]
    break_evens: list[costs.BreakEven]
    horizon_queries: float


def break_even_analysis(
    summaries: list[Summary],
    *,
    train_cost_usd: float,
    train_seconds: float | None,
    train_source: str,
    adapter: str | None,
) -> BreakEvenResult | None:
    """Cumulative cost lines per mode and where the adapter modes overtake RAG with a style
    instruction, at the lowest concurrency measured; None without a ``rag+style`` or ``rag`` level."""
    gateway = [s for s in summaries if s["target"] == "gateway" and s.get("usd_per_query") is not None]
    if not gateway:
        return None
    concurrency = min(s["concurrency"] for s in gateway)
    at = {s["name"]: s for s in gateway if s["concurrency"] == concurrency}
    baseline_name = STYLED_RAG if STYLED_RAG in at else Mode.RAG.value if Mode.RAG in at else None
    if baseline_name is None:
        return None
    lines: list[costs.CostLine] = []
    for name, summary in at.items():
        if name.startswith("mixed:"):
            continue
        mode = Mode.lookup(name.split(":", 1)[0])
        needs_training = mode is not None and mode.uses_adapter
        lines.append(
            costs.CostLine(
                name=name, fixed_usd=train_cost_usd if needs_training else 0.0, per_query_usd=summary["usd_per_query"]
            )
        )
    baseline = next(line for line in lines if line.name == baseline_name)
    break_evens = [costs.break_even(line, baseline) for line in lines if line.fixed_usd > 0]

    style = at.get(STYLED_RAG)
    hybrid = at.get(f"hybrid:{adapter}") if adapter else None
    extra_tokens = instruction_tokens = price = token_queries = None
    if style is not None:
        price = costs.usd_per_token(style["input_usd_per_query"] or 0.0, style["prompt_tokens_per_query"] or 0.0)
        if hybrid is not None:
            extra_tokens = _difference(style["prompt_tokens_per_query"], hybrid["prompt_tokens_per_query"])
        if "rag" in at:
            instruction_tokens = _difference(style["prompt_tokens_per_query"], at["rag"]["prompt_tokens_per_query"])
        extra = extra_tokens if extra_tokens is not None else instruction_tokens
        if extra is not None and price is not None:
            token_queries = costs.style_instruction_break_even(train_cost_usd, extra, price)
    if hybrid is None and style is not None and instruction_tokens and price:
        # no adapter measured: model it as rag+style without the instruction's tokens, plus training
        modelled = costs.CostLine(
            name="hybrid (modelled)",
            fixed_usd=train_cost_usd,
            per_query_usd=max(style["usd_per_query"] - instruction_tokens * price, 0.0),
        )
        lines.append(modelled)
        break_evens.append(costs.break_even(modelled, baseline))
    horizon = costs.horizon(break_evens) if break_evens else 10_000.0
    if token_queries:
        horizon = max(
            horizon,
            costs.horizon(
                [costs.BreakEven(candidate="", baseline="", queries=token_queries, saving_per_query_usd=0.0)]
            ),
        )
    return BreakEvenResult(
        train_cost_usd=train_cost_usd,
        train_seconds=train_seconds,
        train_source=train_source,
        concurrency=concurrency,
        extra_prompt_tokens_per_query=extra_tokens,
        style_instruction_tokens=instruction_tokens,
        usd_per_input_token=price,
        token_model_queries=token_queries,
        lines=lines,
        break_evens=break_evens,
        horizon_queries=horizon,
    )
