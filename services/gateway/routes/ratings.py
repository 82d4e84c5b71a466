"""Blind ratings: ``POST /v1/ratings/tasks``, ``GET /v1/ratings/tasks/next``,
``GET /v1/ratings/tasks/{id}``, ``POST /v1/ratings/tasks/{id}/judgement`` and
``GET /v1/ratings/summary`` (win rates with confidence intervals). All need the ``rate`` role (the
local no-key user has it); a key works on its own tenant's tasks only. Ready-made answers (not
generated here) need ``admin``: their mode and adapter labels are taken on trust.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query

from ragtune.settings import Role
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.pipeline import AnswerPipeline
from services.gateway.rating_schemas import (
    BlindTask,
    JudgementRequest,
    JudgementStored,
    NextTask,
    RatingSummary,
    RatingTaskRequest,
)
from services.gateway.ratings import RatingStore, generate_answers, supplied_answers
from services.gateway.routes.deps import get_pipeline, get_state, rate_caller, request_id
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["ratings"])
TASK_ID = Path(pattern=r"^task_[0-9a-f]{16}$", description="A rating task's id.")


async def get_ratings(state: GatewayState = Depends(get_state)) -> RatingStore:
    assert state.ratings is not None, "the gateway opens the rating store with the feedback database"
    return state.ratings


def owner(tenant: Tenant) -> str | None:
    """Whose tasks a caller sees: a key its tenant's, the local user all."""
    return tenant.name if tenant.restricted else None


@router.post("/v1/ratings/tasks", response_model=BlindTask, status_code=201, responses=ERROR_RESPONSES)
async def create_task(
    body: RatingTaskRequest,
    tenant: Tenant = Depends(rate_caller),
    pipeline: AnswerPipeline = Depends(get_pipeline),
    ratings: RatingStore = Depends(get_ratings),
    rid: str = Depends(request_id),
) -> BlindTask:
    """A blind comparison: the question answered by each contestant (or the supplied answers), in
    random order under opaque ids, without mode, adapter, tokens, latency or sources."""
    if body.answers is not None:
        tenant.check_role(Role.ADMIN)
        answers = supplied_answers(body)
    else:
        answers = await generate_answers(pipeline, body, tenant, request_id=rid)
    return await asyncio.to_thread(ratings.create_task, body.question, answers, tenant.name)


@router.get("/v1/ratings/tasks/next", response_model=NextTask, responses=ERROR_RESPONSES)
async def next_task(tenant: Tenant = Depends(rate_caller), ratings: RatingStore = Depends(get_ratings)) -> NextTask:
    """The oldest task this caller has not judged yet, blind, and how many wait."""
    return await asyncio.to_thread(ratings.next_task, tenant.name, owner(tenant))


@router.get("/v1/ratings/tasks/{task_id}", response_model=BlindTask, responses=ERROR_RESPONSES)
async def get_task(
    task_id: str = TASK_ID, tenant: Tenant = Depends(rate_caller), ratings: RatingStore = Depends(get_ratings)
) -> BlindTask:
    """One task, blind."""
    return await asyncio.to_thread(ratings.blind, task_id, owner(tenant))


@router.post(
    "/v1/ratings/tasks/{task_id}/judgement", response_model=JudgementStored, status_code=201, responses=ERROR_RESPONSES
)
async def judge(
    body: JudgementRequest,
    task_id: str = TASK_ID,
    tenant: Tenant = Depends(rate_caller),
    ratings: RatingStore = Depends(get_ratings),
) -> JudgementStored:
    """Pick the better answer (its id) or ``tie``, optionally say why; stored durably, then the
    answers' modes and adapters are revealed. Each rater judges a task once (409 after)."""
    return await asyncio.to_thread(
        ratings.judge, task_id, body.choice, tenant.name, reason=body.reason, tenant=owner(tenant)
    )


@router.get("/v1/ratings/summary", response_model=RatingSummary, responses=ERROR_RESPONSES)
async def summary(
    by: Literal["contestant", "mode", "adapter"] = Query(
        "contestant", description="Rank modes with their adapters (default), modes, or adapters."
    ),
    since: date | None = Query(None, description="Judgements from this day (UTC) on."),
    bootstrap: int = Query(200, ge=0, le=2000, description="Bootstrap resamples for the intervals (0: none)."),
    tenant: Tenant = Depends(rate_caller),
    ratings: RatingStore = Depends(get_ratings),
) -> RatingSummary:
    """Win rates per contestant: Bradley-Terry strengths, the expected chance to beat the others
    with a 95% bootstrap interval, and the head-to-head counts."""
    return await asyncio.to_thread(ratings.summary, tenant=owner(tenant), since=since, by=by, bootstrap=bootstrap)
