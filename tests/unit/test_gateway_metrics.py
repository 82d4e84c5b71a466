"""Prometheus metrics: vLLM's names under ``ragtune:``, sums without double counting, the in-flight
gauge, process metrics, and a Grafana dashboard whose every query names a metric the gateway has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.metrics import GatewayMetrics
from services.gateway.schemas import ChatResponse, Cost, Latency, Usage

pytestmark = pytest.mark.unit
DASHBOARD = Path(__file__).parents[2] / "deploy" / "monitoring" / "grafana-dashboard.json"
PROMQL_WORDS = {"sum", "by", "rate", "histogram_quantile", "le", "mode", "adapter", "route", "stage", "status"}


def answer(mode: str = "rag") -> ChatResponse:
    return ChatResponse(
        id="r",
        mode=mode,
        adapter=None,
        answer="a",
        citations=[],
        requested_mode=mode,
        model="m",
        usage=Usage(question_tokens=7, context_tokens=100, prompt_tokens=130, completion_tokens=20, total_tokens=150),
        latency_ms=Latency(retrieval=10, prompt=1, ttft=40, generation=200, total=252),
        cost=Cost(usd=1e-6, price_source="test"),
    )


def samples(metrics: GatewayMetrics) -> dict[str, float]:
    """Every sample, by name, summed over its label sets (what ``sum(metric)`` gives)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def test_vllm_names_and_sums_without_double_counting() -> None:
    metrics = GatewayMetrics()
    metrics.observe(answer("rag"), "chat")
    metrics.observe(answer("base"), "openai")
    total = samples(metrics)
    assert total["ragtune:prompt_tokens_total"] == 260 and total["ragtune:generation_tokens_total"] == 40
    assert total["ragtune:context_tokens_total"] == 200  # a part of the prompt, in its own counter
    assert total["ragtune:time_to_first_token_seconds_sum"] == pytest.approx(2 * 0.051)
    assert total["ragtune:e2e_request_latency_seconds_sum"] == pytest.approx(2 * 0.252)
    # the stages are disjoint: their sum never exceeds the end-to-end latency
    assert total["ragtune:request_stage_seconds_sum"] <= total["ragtune:e2e_request_latency_seconds_sum"]
    assert total["ragtune_requests_total"] == 2
    assert "process_resident_memory_bytes" in total or "python_info" in total


def test_in_flight_gauge_moves_with_requests() -> None:
    metrics = GatewayMetrics()
    gauge = metrics.running.labels("/v1/chat")
    gauge.inc()
    assert samples(metrics)["ragtune:num_requests_running"] == 1
    gauge.dec()
    assert samples(metrics)["ragtune:num_requests_running"] == 0


def test_every_dashboard_panel_queries_metrics_that_exist() -> None:
    metrics = GatewayMetrics()
    metrics.observe(answer(), "chat")
    metrics.error("/v1/chat", 422)
    metrics.running.labels("/v1/chat")
    metrics.refusals.labels("rag", "").inc()
    exposed = set(samples(metrics))
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = re.sub(r"\[[^]]*\]|\{[^}]*\}|\"[^\"]*\"", "", target["expr"])
            names = {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if w not in PROMQL_WORDS}
            assert names, (panel["title"], target["expr"])
            for name in names:
                assert name in exposed, f"panel '{panel['title']}' queries {name}, which the gateway does not export"
