"""``POST /v1/chat`` (JSON or SSE) and ``POST /v1/compare``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends

from services.engines.base import ChatMessage
from services.gateway.accounting import Stopwatch
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.pipeline import AnswerPipeline, AnswerPlan, AnswerQuery
from services.gateway.routes.deps import chat_caller, get_pipeline, request_clock, request_id
from services.gateway.schemas import (
    ChatRequest,
    ChatResponse,
    CompareRequest,
    CompareResponse,
    StreamDeltaEvent,
)
from services.gateway.sse import event, sse_response
from services.gateway.tenants import Tenant
from services.modes import Mode

router = APIRouter(tags=["chat"])


def query_from_chat(body: ChatRequest, tenant: Tenant) -> AnswerQuery:
    if body.messages is not None:
        *history, last = body.messages
        question = last.content
        turns = [ChatMessage(role=m.role, content=m.content) for m in history]
    else:
        question, turns = body.question or "", []
    return AnswerQuery(
        question=question,
        history=turns,
        mode=body.mode,
        namespace=tenant.namespace_for(body.namespace),
        adapter=body.adapter,
        top_k=body.top_k,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        style=body.style,
        repetition_penalty=body.repetition_penalty,
    )


async def chat_events(pipeline: AnswerPipeline, plan: AnswerPlan) -> AsyncIterator[str]:
    async for item in pipeline.stream(plan):
        yield event(StreamDeltaEvent(delta=item)) if isinstance(item, str) else event(item)


@router.post(
    "/v1/chat",
    response_model=ChatResponse,
    responses={
        **ERROR_RESPONSES,
        200: {
            "content": {"text/event-stream": {}},
            "description": 'The answer; with stream=true: SSE events {"delta": text}, then the '
            "full response object, then [DONE].",
        },
    },
)
async def chat(
    body: ChatRequest,
    tenant: Tenant = Depends(chat_caller),
    pipeline: AnswerPipeline = Depends(get_pipeline),
    rid: str = Depends(request_id),
    clock: Stopwatch = Depends(request_clock),
):
    """Answer a question in mode base, rag, ft, hybrid or auto, with citations, usage, latency, cost."""
    plan = await pipeline.plan(query_from_chat(body, tenant), tenant, request_id=rid, route="chat", clock=clock)
    if body.stream:
        return sse_response(chat_events(pipeline, plan), rid, pipeline.settings.gateway.sse_keepalive_s)
    return await pipeline.answer(plan)


@router.post("/v1/compare", response_model=CompareResponse, responses=ERROR_RESPONSES)
async def compare(
    body: CompareRequest,
    tenant: Tenant = Depends(chat_caller),
    pipeline: AnswerPipeline = Depends(get_pipeline),
    rid: str = Depends(request_id),
) -> CompareResponse:
    """One question in several modes (default all four) over the same retrieved context, with deltas
    against ``rag``."""
    query = AnswerQuery(
        question=body.question,
        mode=Mode.RAG,
        namespace=tenant.namespace_for(body.namespace),
        adapter=body.adapter,
        top_k=body.top_k,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
    )
    return await pipeline.compare(query, tenant, body.modes, request_id=rid)
