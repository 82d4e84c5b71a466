"""Prometheus gauges of the current KPIs and win rates, read from the feedback database at scrape.

``ragtune_kpi_*{mode, adapter}`` cover the last ``WINDOW_DAYS`` UTC days (today included), with the
definitions of ``services.gateway.kpi_trends``; a gauge without data (nothing rated) is left out
rather than reported as 0. ``ragtune_rating_expected_win_rate{contestant}`` is the Bradley-Terry
expected win rate of every blind judgement so far (no bootstrap at scrape time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.gateway.feedback import FeedbackStore
from services.gateway.kpi_trends import kpi_trend
from services.gateway.ratings import RatingStore

WINDOW_DAYS = 7
GAUGES = (
    ("ragtune_kpi_requests", "Answered requests in the KPI window.", "requests"),
    ("ragtune_kpi_rated", "Requests with feedback in the KPI window.", "rated"),
    ("ragtune_kpi_resolved_share", "Share of rated requests resolved without a human.", "resolved_share"),
    ("ragtune_kpi_good_share", "Share of rated requests rated good.", "good_share"),
    ("ragtune_kpi_handling_seconds", "Mean handling time of rated requests (seconds).", "handling_s"),
    (
        "ragtune_kpi_cost_per_resolved_usd",
        "Cost of the rated requests per one resolved without a human (USD).",
        "cost_per_resolved_usd",
    ),
)


class KpiCollector(Collector):
    """Reads the KPIs of the last ``WINDOW_DAYS`` days and the win rates on every scrape."""

    def __init__(self, feedback: FeedbackStore, ratings: RatingStore | None = None) -> None:
        self.feedback = feedback
        self.ratings = ratings

    def describe(self) -> list:
        return []  # collected on demand: no describe-time query

    def collect(self) -> Iterator[GaugeMetricFamily]:
        since = datetime.now(UTC).date() - timedelta(days=WINDOW_DAYS - 1)
        points = kpi_trend(self.feedback, "total", group=["mode", "adapter"], since=since)
        for name, help_text, field in GAUGES:
            family = GaugeMetricFamily(name, f"{help_text} Last {WINDOW_DAYS} days.", labels=["mode", "adapter"])
            for point in points:
                value = getattr(point, field)
                if value is not None:
                    family.add_metric([point.mode or "", point.adapter or ""], float(value))
            yield family
        if self.ratings is not None:
            family = GaugeMetricFamily(
                "ragtune_rating_expected_win_rate",
                "Bradley-Terry chance to beat the other contestants in blind ratings.",
                labels=["contestant"],
            )
            for row in self.ratings.summary(bootstrap=0).contestants:
                family.add_metric([row.contestant], row.expected_win_rate)
            yield family
