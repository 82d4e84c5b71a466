"""``POST /v1/feedback`` and ``GET /v1/kpi`` (share rated good, resolved without a human)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query

from ragtune.errors import RagtuneError
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.kpi_trends import kpi_report, parse_group
from services.gateway.routes.deps import admin_caller, chat_caller, get_state
from services.gateway.schemas import FeedbackRequest, FeedbackStored, KpiSummary
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", response_model=FeedbackStored, status_code=201, responses=ERROR_RESPONSES)
async def add_feedback(
    body: FeedbackRequest, tenant: Tenant = Depends(chat_caller), state: GatewayState = Depends(get_state)
) -> FeedbackStored:
    """Rate an answer by its request id (stored durably before the reply)."""
    owner = tenant.name if tenant.restricted else None
    await asyncio.to_thread(state.feedback.add_feedback, body, owner)
    if body.correction and state.exchanges is not None:  # kept only with the exchange (services/improve)
        await asyncio.to_thread(state.exchanges.add_correction, body.request_id, body.correction)
    return FeedbackStored(request_id=body.request_id)


@router.get("/v1/kpi", response_model=KpiSummary, responses=ERROR_RESPONSES)
async def kpi(
    period: Literal["day", "week"] | None = Query(None, description="Add the trend by UTC day or week."),
    group: str | None = Query(
        None, description="Split the trend by these, comma-separated: mode, adapter, tenant (default all; 'none')."
    ),
    since: date | None = Query(None, description="Trend from this day (UTC) on."),
    until: date | None = Query(None, description="Trend up to this day (UTC), not including it."),
    tenant: Tenant = Depends(admin_caller),
    state: GatewayState = Depends(get_state),
) -> KpiSummary:
    """Feedback KPIs per mode and adapter (a key sees its own requests only); with ``period`` also
    the trend: resolved without a human, good ratings, handling time, cost per resolved question."""
    owner = tenant.name if tenant.restricted else None
    try:
        keys = parse_group(group)
    except ValueError as exc:
        raise RagtuneError(str(exc)) from None
    return await asyncio.to_thread(
        kpi_report, state.feedback, tenant=owner, period=period, group=keys, since=since, until=until
    )
