"""KPIs over time: a seeded week of requests and feedback against hand-computed values (no model).

The seeded log (UTC; 2026-11-16 is a Monday):

=====  ================  ======  ==========  ======  =====================================
id     answered          tenant  mode        cost $  feedback
=====  ================  ======  ==========  ======  =====================================
r1     Mon 16, 09:00     a       rag         0.002   good, resolved, 60 s later
r2     Mon 16, 10:00     a       rag         0.002   bad, not resolved, 120 s later
r3     Mon 16, 11:00     b       hybrid v@2  0.001   none
r4     Wed 18, 09:00     b       hybrid v@2  0.001   good, resolved, 30 s later, client says 300 s
r5     Wed 18, 12:00     a       rag         0.004   good, not resolved, 90 s later
r6     Sun 22, 23:59:50  a       hybrid v@2  0.003   good, resolved, 10 s later (on Monday)
r7     Mon 23, 00:30     a       rag         0.005   bad, not resolved, 600 s later
=====  ================  ======  ==========  ======  =====================================
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.gateway.feedback import FeedbackStore
from services.gateway.kpi_metrics import KpiCollector
from services.gateway.kpi_trends import kpi_report, kpi_trend, parse_group
from services.gateway.metrics import GatewayMetrics
from services.gateway.schemas import FeedbackRequest
from tests.fakes import chat_response

pytestmark = pytest.mark.unit
ADAPTER = "voice@2"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC).timestamp()


# id, answered, tenant, mode, adapter, cost, feedback: (rating, resolved, seconds later, client handling_s)
SEED = [
    ("r1", at(16, 9), "a", "rag", None, 0.002, (1, True, 60, None)),
    ("r2", at(16, 10), "a", "rag", None, 0.002, (-1, False, 120, None)),
    ("r3", at(16, 11), "b", "hybrid", ADAPTER, 0.001, None),
    ("r4", at(18, 9), "b", "hybrid", ADAPTER, 0.001, (1, True, 30, 300.0)),
    ("r5", at(18, 12), "a", "rag", None, 0.004, (1, False, 90, None)),
    ("r6", at(22, 23, 59, 50), "a", "hybrid", ADAPTER, 0.003, (1, True, 10, None)),
    ("r7", at(23, 0, 30), "a", "rag", None, 0.005, (-1, False, 600, None)),
]


@pytest.fixture()
def store(tmp_path: Path):
    db = FeedbackStore(tmp_path / "feedback.sqlite")
    for request_id, answered, tenant, mode, adapter, usd, feedback in SEED:
        db.log_request(chat_response(request_id, mode, adapter, usd), tenant, created=answered)
        if feedback is not None:
            rating, resolved, later, handling = feedback
            db.add_feedback(
                FeedbackRequest(request_id=request_id, rating=rating, resolved=resolved, handling_s=handling),
                None,
                created=answered + later,
            )
    yield db
    db.close()


def rows(points, *keys):
    return {tuple(getattr(p, k) for k in ("period", *keys)): p for p in points}


def check(point, requests, rated, good_share, resolved_share, handling_s, cost, cost_per_resolved) -> None:
    assert (point.requests, point.rated) == (requests, rated)
    assert point.good_share == pytest.approx(good_share, abs=1e-4)
    assert point.resolved_share == pytest.approx(resolved_share, abs=1e-4)
    assert point.handling_s == pytest.approx(handling_s)
    assert point.cost_usd == pytest.approx(cost)
    if cost_per_resolved is None:
        assert point.cost_per_resolved_usd is None
    else:
        assert point.cost_per_resolved_usd == pytest.approx(cost_per_resolved)


def test_daily_totals_match_the_hand_computed_values(store: FeedbackStore) -> None:
    points = rows(kpi_trend(store, "day", group=[]))
    assert list(points) == [("2026-11-16",), ("2026-11-18",), ("2026-11-22",), ("2026-11-23",)]
    # Mon: r1 r2 rated (r3 not); handling (60 + 120) / 2; cost per resolved (0.002 + 0.002) / 1
    check(points[("2026-11-16",)], 3, 2, 0.5, 0.5, 90.0, 0.005, 0.004)
    # Wed: r4's client-reported 300 s wins over its 30 s; (300 + 90) / 2
    check(points[("2026-11-18",)], 2, 2, 1.0, 0.5, 195.0, 0.005, 0.005)
    # Sun: r6 counts on the day it was asked although its feedback came on Monday
    check(points[("2026-11-22",)], 1, 1, 1.0, 1.0, 10.0, 0.003, 0.003)
    # Mon 23: nothing resolved, so no cost per resolved question
    check(points[("2026-11-23",)], 1, 1, 0.0, 0.0, 600.0, 0.005, None)


def test_weekly_trend_per_mode_adapter_and_tenant(store: FeedbackStore) -> None:
    totals = rows(kpi_trend(store, "week", group=[]))
    assert list(totals) == [("2026-11-16",), ("2026-11-23",)]  # weeks start on Monday
    # 6 requests, 5 rated, 4 good, 3 resolved; handling (60+120+300+90+10)/5; rated cost 0.012 / 3
    check(totals[("2026-11-16",)], 6, 5, 0.8, 0.6, 116.0, 0.013, 0.004)

    by_mode = rows(kpi_trend(store, "week", group=["mode", "adapter"]), "mode", "adapter")
    check(by_mode[("2026-11-16", "rag", None)], 3, 3, 0.6667, 0.3333, 90.0, 0.008, 0.008)
    check(by_mode[("2026-11-16", "hybrid", ADAPTER)], 3, 2, 1.0, 1.0, 155.0, 0.005, 0.002)
    check(by_mode[("2026-11-23", "rag", None)], 1, 1, 0.0, 0.0, 600.0, 0.005, None)
    assert len(by_mode) == 3

    by_tenant = rows(kpi_trend(store, "week", group=["tenant"]), "tenant")
    check(by_tenant[("2026-11-16", "a")], 4, 4, 0.75, 0.5, 70.0, 0.011, 0.0055)
    check(by_tenant[("2026-11-16", "b")], 2, 1, 1.0, 1.0, 300.0, 0.002, 0.001)

    only_b = kpi_trend(store, "week", tenant="b")
    assert [(p.period, p.tenant, p.mode, p.adapter, p.requests) for p in only_b] == [
        ("2026-11-16", "b", "hybrid", ADAPTER, 2)
    ]


def test_window_and_report_keep_the_totals(store: FeedbackStore) -> None:
    window = kpi_trend(store, "day", group=[], since=date(2026, 11, 18), until=date(2026, 11, 23))
    assert [p.period for p in window] == ["2026-11-18", "2026-11-22"]
    report = kpi_report(store, period="week", group=["mode"])
    assert (report.requests, report.rated, report.good_share, report.resolved_share) == (7, 6, 0.6667, 0.5)
    assert report.period == "week" and report.group == ["mode"]
    assert {(p.period, p.mode) for p in report.trend} == {
        ("2026-11-16", "rag"),
        ("2026-11-16", "hybrid"),
        ("2026-11-23", "rag"),
    }
    plain = kpi_report(store)
    assert plain.trend == [] and plain.period is None and plain.by_mode_adapter == report.by_mode_adapter


def test_group_parsing() -> None:
    assert parse_group(None) == ["mode", "adapter", "tenant"]
    assert parse_group("tenant, mode") == ["mode", "tenant"]
    assert parse_group("none") == [] and parse_group("") == []
    with pytest.raises(ValueError, match="choose from mode, adapter, tenant"):
        parse_group("mode,colour")


def test_prometheus_gauges_show_the_current_window(tmp_path: Path) -> None:
    db = FeedbackStore(tmp_path / "feedback.sqlite")
    now = datetime.now(UTC).timestamp()
    db.log_request(chat_response("old", "rag", None, 0.5), "a", created=now - 30 * 86400)  # outside the window
    db.add_feedback(FeedbackRequest(request_id="old", rating=-1, resolved=False), None, created=now - 30 * 86400)
    db.log_request(chat_response("n1", "hybrid", ADAPTER, 0.002), "a", created=now - 100)
    db.add_feedback(FeedbackRequest(request_id="n1", rating=1, resolved=True), None, created=now - 40)
    db.log_request(chat_response("n2", "hybrid", ADAPTER, 0.002), "a", created=now - 50)
    metrics = GatewayMetrics()
    metrics.registry.register(KpiCollector(db))
    text = metrics.render().decode()
    labels = f'{{adapter="{ADAPTER}",mode="hybrid"}}'
    assert f"ragtune_kpi_requests{labels} 2.0" in text
    assert f"ragtune_kpi_resolved_share{labels} 1.0" in text
    assert f"ragtune_kpi_good_share{labels} 1.0" in text
    assert f"ragtune_kpi_handling_seconds{labels} 60.0" in text
    assert f"ragtune_kpi_cost_per_resolved_usd{labels} 0.002" in text
    assert 'mode="rag"' not in text  # 30 days old
    db.close()
