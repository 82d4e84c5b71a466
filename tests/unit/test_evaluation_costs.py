"""Cost per query and the FT-vs-RAG break-even on fixed inputs."""

from __future__ import annotations

import pytest

from services.evaluation import analysis, costs

pytestmark = pytest.mark.unit


def test_cost_line_and_per_1k() -> None:
    line = costs.CostLine(name="ft", fixed_usd=2.0, per_query_usd=0.001)
    assert line.cumulative(0) == 2.0
    assert line.cumulative(1000) == pytest.approx(3.0)
    assert costs.per_1k(0.00025) == pytest.approx(0.25)


def test_training_cost_and_token_price() -> None:
    assert costs.training_cost_usd(1800, 0.10) == pytest.approx(0.05)
    assert costs.usd_per_token(0.002, 400) == pytest.approx(5e-6)
    assert costs.usd_per_token(1.0, 0) is None
    with pytest.raises(ValueError):
        costs.training_cost_usd(-1, 0.1)


def test_break_even_crossing() -> None:
    rag = costs.CostLine(name="rag+style", per_query_usd=0.003)
    ft = costs.CostLine(name="hybrid", fixed_usd=1.0, per_query_usd=0.002)
    result = costs.break_even(ft, rag)
    assert result.queries == pytest.approx(1000.0)
    assert result.saving_per_query_usd == pytest.approx(0.001)
    assert ft.cumulative(result.queries) == pytest.approx(rag.cumulative(result.queries))


def test_break_even_never_and_always() -> None:
    rag = costs.CostLine(name="rag", per_query_usd=0.001)
    slower = costs.CostLine(name="ft", fixed_usd=1.0, per_query_usd=0.002)
    assert costs.break_even(slower, rag).queries is None
    free = costs.CostLine(name="ft", fixed_usd=0.0, per_query_usd=0.0005)
    assert costs.break_even(free, rag).queries == 0.0


def test_style_instruction_break_even() -> None:
    # 0.05 $ of training vs 100 extra prompt tokens at 1e-7 $/token = 1e-5 $/query → 5,000 queries
    assert costs.style_instruction_break_even(0.05, 100, 1e-7) == pytest.approx(5000.0)
    assert costs.style_instruction_break_even(0.05, 0, 1e-7) is None


def test_curve_points_and_horizon() -> None:
    lines = [costs.CostLine(name="a", per_query_usd=1.0), costs.CostLine(name="b", fixed_usd=5.0, per_query_usd=0.5)]
    curves = costs.curve_points(lines, 10, points=3)
    assert curves == {"queries": [0.0, 5.0, 10.0], "a": [0.0, 5.0, 10.0], "b": [5.0, 7.5, 10.0]}
    crossing = costs.break_even(lines[1], lines[0])
    assert costs.horizon([crossing]) == 20.0
    assert costs.horizon([]) == 10_000.0


def _level(
    name: str,
    concurrency: int,
    *,
    prompt: float,
    usd: float,
    input_usd: float,
    target: str = "gateway",
    throughput: float = 100.0,
    ttft: float = 50.0,
    e2el: float = 1000.0,
) -> dict:
    return {
        "name": name,
        "target": target,
        "concurrency": concurrency,
        "prompt_tokens_per_query": prompt,
        "usd_per_query": usd,
        "input_usd_per_query": input_usd,
        "output_throughput": throughput,
        "median_ttft_ms": ttft,
        "median_e2el_ms": e2el,
        "median_tpot_ms": 20.0,
    }


def test_break_even_analysis_from_level_summaries() -> None:
    levels = [
        _level("rag", 1, prompt=400, usd=0.0030, input_usd=0.0010),
        _level("rag+style", 1, prompt=500, usd=0.0032, input_usd=0.00125),
        _level("hybrid:voice", 1, prompt=400, usd=0.0031, input_usd=0.0010),
        _level("rag", 4, prompt=400, usd=0.001, input_usd=0.0005),
    ]
    result = analysis.break_even_analysis(
        levels, train_cost_usd=0.01, train_seconds=360.0, train_source="card", adapter="voice"
    )
    assert result is not None and result.concurrency == 1
    assert result.style_instruction_tokens == pytest.approx(100)
    assert result.extra_prompt_tokens_per_query == pytest.approx(100)
    assert result.usd_per_input_token == pytest.approx(0.00125 / 500)
    assert result.token_model_queries == pytest.approx(0.01 / (100 * 0.00125 / 500))
    (crossing,) = result.break_evens
    assert crossing.candidate == "hybrid:voice" and crossing.baseline == "rag+style"
    assert crossing.queries == pytest.approx(0.01 / 0.0001)
    assert result.horizon_queries >= crossing.queries


def test_overheads_from_level_summaries() -> None:
    levels = [
        _level("base", 1, prompt=30, usd=0, input_usd=0, throughput=95.0, ttft=60.0, e2el=2000.0),
        _level(
            "engine-direct", 1, prompt=30, usd=0, input_usd=0, target="engine", throughput=100.0, ttft=58.0, e2el=1990.0
        ),
        _level("ft:voice", 1, prompt=30, usd=0, input_usd=0, throughput=50.0, ttft=120.0),
    ]
    (row,) = analysis.gateway_overhead(levels)
    assert row["throughput_ratio"] == pytest.approx(0.95)
    assert row["added_median_ttft_ms"] == pytest.approx(2.0)
    assert row["added_median_e2el_ms"] == pytest.approx(10.0)
    rows = analysis.adapter_overhead(levels)
    assert [r["name"] for r in rows] == ["base", "ft:voice"]
    assert rows[1]["throughput_vs_base"] == pytest.approx(50 / 95)
    assert rows[1]["ttft_vs_base"] == pytest.approx(2.0)


def test_break_even_is_modelled_without_a_measured_adapter() -> None:
    levels = [
        _level("rag", 1, prompt=400, usd=0.0030, input_usd=0.0010),
        _level("rag+style", 1, prompt=500, usd=0.0032, input_usd=0.00125),
    ]
    result = analysis.break_even_analysis(
        levels, train_cost_usd=0.01, train_seconds=None, train_source="given", adapter=None
    )
    (crossing,) = result.break_evens
    assert crossing.candidate == "hybrid (modelled)"
    assert crossing.queries == pytest.approx(result.token_model_queries)
