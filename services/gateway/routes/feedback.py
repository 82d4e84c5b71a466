"""``POST /v1/feedback`` and ``GET /v1/kpi`` (share rated good, resolved without a human)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from services.gateway.errors import ERROR_RESPONSES
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
async def kpi(tenant: Tenant = Depends(admin_caller), state: GatewayState = Depends(get_state)) -> KpiSummary:
    """Feedback KPIs per mode and adapter (a key sees its own requests only)."""
    owner = tenant.name if tenant.restricted else None
    return await asyncio.to_thread(state.feedback.kpis, owner)
