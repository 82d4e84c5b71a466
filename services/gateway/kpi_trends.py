"""KPIs over time from the request log and its feedback (``GET /v1/kpi?period=day|week``).

The definitions (the README's "Rating and KPIs" says the same):

- a request belongs to the UTC day, or the week (Monday to Sunday, UTC), in which it was answered;
- **resolved without a human**: its feedback says ``resolved: true`` (the asker did not need a
  person); the share is over the *rated* requests, since nothing is known of the others;
- **good-rating share**: rated good (``rating: 1``) over rated;
- **handling time**: the client-reported ``handling_s`` of the feedback where one was sent, else
  the seconds from the request to its (last) feedback; the mean over the rated requests;
- **cost per resolved question**: what the rated requests cost, divided by how many of them were
  resolved without a human (the same sample on both sides, so unrated traffic does not inflate it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from services.gateway.feedback import FeedbackStore, where_clause
from services.gateway.schemas import KpiPoint, KpiSummary

Period = Literal["day", "week"]
GroupKey = Literal["mode", "adapter", "tenant"]
GROUP_KEYS: tuple[GroupKey, ...] = ("mode", "adapter", "tenant")
BUCKETS: dict[str, str] = {
    "day": "date(r.created, 'unixepoch')",
    "week": "date(r.created, 'unixepoch', 'weekday 0', '-6 days')",  # the Monday of the request's week
    "total": "'total'",  # one bucket: the whole span asked for (the Prometheus gauges)
}


def parse_group(text: str | None) -> list[GroupKey]:
    """``"mode,adapter"`` → ``["mode", "adapter"]`` (in the canonical order); ValueError naming the
    choices for anything else; empty or ``"none"`` → no grouping (one total per period)."""
    if text is None:
        return list(GROUP_KEYS)
    names = [n.strip() for n in text.split(",") if n.strip() and n.strip() != "none"]
    unknown = [n for n in names if n not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"unknown group {', '.join(unknown)}; choose from {', '.join(GROUP_KEYS)} (comma-separated)")
    return [key for key in GROUP_KEYS if key in names]


def epoch(day: date | None) -> float | None:
    """Midnight UTC of ``day`` in epoch seconds (None for no day: an open end of a span)."""
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def kpi_trend(
    store: FeedbackStore,
    period: Period | Literal["total"],
    *,
    group: list[GroupKey] | None = None,
    tenant: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[KpiPoint]:
    """One KpiPoint per period (and group), oldest first; ``tenant`` restricts to one tenant's
    requests, ``since``/``until`` to the days from ``since`` up to (not including) ``until``;
    ``period="total"`` makes one point (period ``total``) of the whole span."""
    keys = list(GROUP_KEYS) if group is None else group
    where, args = where_clause(
        [("r.tenant = ?", tenant), ("r.created >= ?", epoch(since)), ("r.created < ?", epoch(until))]
    )
    columns = "".join(f", r.{key}" for key in keys)
    query = f"""
        SELECT {BUCKETS[period]} AS period{columns},
               COUNT(*), COUNT(f.request_id),
               COALESCE(SUM(f.rating = 1), 0), COALESCE(SUM(f.resolved = 1), 0),
               SUM(CASE WHEN f.request_id IS NOT NULL
                        THEN MAX(0, COALESCE(f.handling_s, f.created - r.created)) END),
               COALESCE(SUM(r.cost_usd), 0),
               COALESCE(SUM(CASE WHEN f.request_id IS NOT NULL THEN r.cost_usd ELSE 0 END), 0)
        FROM requests r LEFT JOIN feedback f ON f.request_id = r.request_id
        {where}
        GROUP BY period{columns} ORDER BY period{columns}
    """
    points = []
    for row in store.read(query, args):
        period_start, labels, numbers = row[0], row[1 : 1 + len(keys)], row[1 + len(keys) :]
        requests, rated, good, resolved, handling_total, cost, rated_cost = numbers
        points.append(
            KpiPoint.counted(
                period=period_start,
                **dict(zip(keys, labels, strict=True)),
                requests=requests,
                rated=rated,
                good=good,
                resolved=resolved,
                handling_s=round(handling_total / rated, 3) if rated and handling_total is not None else None,
                cost_usd=cost,
                cost_per_resolved_usd=rated_cost / resolved if resolved else None,
            )
        )
    return points


def kpi_report(
    store: FeedbackStore,
    *,
    tenant: str | None = None,
    period: Period | None = None,
    group: list[GroupKey] | None = None,
    since: date | None = None,
    until: date | None = None,
) -> KpiSummary:
    """The totals of ``FeedbackStore.kpis`` plus, with ``period``, the trend."""
    summary = store.kpis(tenant)
    if period is None:
        return summary
    keys = list(GROUP_KEYS) if group is None else group
    summary.period = period
    summary.group = keys
    summary.trend = kpi_trend(store, period, group=keys, tenant=tenant, since=since, until=until)
    return summary
