"""Feedback storage, KPIs and metrics (SQLite, prometheus-client; no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.errors import NotFoundError
from services.gateway.feedback import FeedbackStore
from services.gateway.metrics import GatewayMetrics
from services.gateway.schemas import FeedbackRequest
from tests.fakes import chat_response

pytestmark = pytest.mark.unit


def test_feedback_is_durable_and_kpis_per_mode_and_adapter(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    store = FeedbackStore(path)
    store.log_request(chat_response("r1"), "a")
    store.log_request(chat_response("r2"), "a")
    store.log_request(chat_response("r3", "ft", "voice"), "b")
    store.add_feedback(FeedbackRequest(request_id="r1", rating=1, resolved=True), "a")
    store.add_feedback(FeedbackRequest(request_id="r2", rating=-1, resolved=False, comment="wrong"), None)
    with pytest.raises(NotFoundError):
        store.add_feedback(FeedbackRequest(request_id="r3", rating=1, resolved=True), "a")  # b's request
    with pytest.raises(NotFoundError):
        store.add_feedback(FeedbackRequest(request_id="nope", rating=1, resolved=True), None)
    store.close()

    reopened = FeedbackStore(path)
    summary = reopened.kpis()
    assert (summary.requests, summary.rated, summary.good_share, summary.resolved_share) == (3, 2, 0.5, 0.5)
    rows = {(r.mode, r.adapter): r for r in summary.by_mode_adapter}
    assert rows[("rag", None)].good == 1 and rows[("rag", None)].rated == 2
    assert rows[("ft", "voice")].rated == 0 and rows[("ft", "voice")].good_share is None
    assert reopened.kpis("b").requests == 1
    reopened.close()


def test_metrics_count_tokens_latency_and_cost() -> None:
    metrics = GatewayMetrics()
    metrics.observe(chat_response("r1", "hybrid", "voice"), "chat")
    text = metrics.render().decode()
    assert 'ragtune_requests_total{adapter="voice",mode="hybrid",route="chat"} 1.0' in text
    assert 'ragtune:context_tokens_total{adapter="voice",mode="hybrid"} 5.0' in text
    assert 'ragtune:request_stage_seconds_count{adapter="voice",mode="hybrid",stage="ttft"} 1.0' in text
    assert 'ragtune:e2e_request_latency_seconds_count{adapter="voice",mode="hybrid",route="chat"} 1.0' in text
    assert 'ragtune_cost_usd_total{adapter="voice",mode="hybrid"} 1e-06' in text
