"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models``.

``model`` is the base model's name or an adapter's; ragtune options ride in the extra body field
``ragtune`` (``{"mode", "top_k", "namespace", "style"}``) and responses add ``citations`` and
``ragtune`` (usage by kind, latency by stage, cost). The default mode is ``base`` for the base
model and ``ft`` for an adapter; ``rag`` with an adapter becomes ``hybrid``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends

from ragtune.errors import NotFoundError
from services.engines.base import ChatMessage, ChoiceOutcome, StreamDelta
from services.gateway.accounting import Stopwatch
from services.gateway.adapters import adapter_of
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.openai_options import check_supported, conversation, has_tool_turns, requested_options
from services.gateway.pipeline import AnswerPipeline, AnswerPlan, AnswerQuery
from services.gateway.routes.deps import chat_caller, get_pipeline, get_state, request_clock, request_id
from services.gateway.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatResponse,
    Choice,
    ChoiceMessage,
    CompletionUsage,
    ModelCard,
    ModelList,
    PromptTokensDetails,
    RagtuneExtras,
)
from services.gateway.sse import event, sse_response
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant
from services.modes import Mode

router = APIRouter(tags=["openai"])
STARTED = int(time.time())


def base_names(state: GatewayState) -> set[str]:
    return {state.engine.base_model, state.settings.models.generator}


async def resolve_model(state: GatewayState, model: str, tenant: Tenant) -> str | None:
    """The adapter a ``model`` names (None for the base model); 404 for unknown names."""
    if model in base_names(state):
        return None
    if tenant.may_use_adapter(adapter_of(model)) and await state.adapters.find(model, tenant):
        state.adapters.check_use(tenant, model)  # another tenant's adapter: 403
        return model
    raise NotFoundError(f"model '{model}' does not exist; GET /v1/models lists the base model and adapters")


def query_from_openai(body: ChatCompletionRequest, adapter: str | None, tenant: Tenant) -> AnswerQuery:
    options = body.ragtune
    mode = (options.mode if options and options.mode else None) or Mode.with_traits(
        retrieval=False, adapter=bool(adapter)
    )
    if adapter and mode.is_answer_mode and not mode.uses_adapter:
        mode = mode.adapter_counterpart()
    *history, last = body.messages
    turns = [
        ChatMessage(
            role="system" if m.role == "developer" else m.role,
            content=m.text(),
            tool_calls=m.tool_calls,
            tool_call_id=m.tool_call_id,
        )
        for m in history
        if m.text() or m.tool_calls
    ]
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    return AnswerQuery(
        question=last.text(),
        history=turns,
        mode=mode,
        namespace=tenant.namespace_for(options.namespace if options else None),
        adapter=adapter,
        top_k=options.top_k if options else None,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature if body.temperature is not None else 0.0,
        top_p=body.top_p if body.top_p is not None else 1.0,
        stop=stop or None,
        seed=body.seed,
        style=options.style if options else None,
        ignore_eos=body.ignore_eos,
        repetition_penalty=body.repetition_penalty,
    )


def extras(response: ChatResponse) -> RagtuneExtras:
    return RagtuneExtras(
        id=response.id,
        mode=response.mode,
        requested_mode=response.requested_mode,
        adapter=response.adapter,
        refused=response.refused,
        usage=response.usage,
        latency_ms=response.latency_ms,
        cost=response.cost,
        loop_stopped=response.loop_stopped,
    )


def completion_usage(response: ChatResponse) -> CompletionUsage:
    u = response.usage
    result = response.engine_result
    cached = result.cached_tokens if result is not None else None
    return CompletionUsage(
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached) if cached is not None else None,
    )


def finish_reason(response: ChatResponse) -> str:
    return "stop" if response.finish_reason in (None, "refused") else response.finish_reason


def engine_choices(response: ChatResponse) -> list[ChoiceOutcome]:
    """The engine's choices when the request asked for options (else empty)."""
    result = response.engine_result
    return result.choices if result is not None else []


def choices_of(response: ChatResponse) -> list[Choice]:
    outcomes = engine_choices(response)
    if not outcomes:
        return [Choice(message=ChoiceMessage(content=response.answer), finish_reason=finish_reason(response))]
    return [
        Choice(
            index=c.index,
            message=ChoiceMessage(content=c.text if (c.text or not c.tool_calls) else None, tool_calls=c.tool_calls),
            logprobs={"content": c.logprobs} if c.logprobs is not None else None,
            finish_reason=c.finish_reason or "stop",
        )
        for c in outcomes
    ]


async def completion_chunks(
    pipeline: AnswerPipeline, plan: AnswerPlan, model: str, include_usage: bool
) -> AsyncIterator[str]:
    created = int(time.time())
    head = {"id": plan.request_id, "object": "chat.completion.chunk", "created": created, "model": model}
    # Like vLLM, the role rides on the first chunk that carries text, so a client's time to first
    # token measures the engine's first token, not the gateway's acknowledgement.
    roled: set[int] = set()

    def role(index: int) -> dict[str, str]:
        if index in roled:
            return {}
        roled.add(index)
        return {"role": "assistant"}

    async for item in pipeline.stream(plan):
        if isinstance(item, str | StreamDelta):
            piece = item if isinstance(item, StreamDelta) else StreamDelta(text=item)
            delta: dict = {**role(piece.index)}
            if piece.text or not piece.tool_calls:
                delta["content"] = piece.text
            if piece.tool_calls:
                delta["tool_calls"] = piece.tool_calls
            choice: dict = {"index": piece.index, "delta": delta, "finish_reason": None}
            if piece.logprobs:
                choice["logprobs"] = {"content": piece.logprobs}
            yield event({**head, "choices": [choice]})
            continue
        tail = {"citations": [c.model_dump() for c in item.citations], "ragtune": extras(item).model_dump()}
        outcomes = engine_choices(item) or [ChoiceOutcome(index=0, finish_reason=finish_reason(item))]
        last = [
            {
                "index": c.index,
                "delta": {**role(c.index), "content": ""} if c.index not in roled else {},
                "finish_reason": c.finish_reason or "stop",
            }
            for c in outcomes
        ]
        if include_usage:
            yield event({**head, "choices": last})
            yield event({**head, "choices": [], "usage": completion_usage(item).model_dump(exclude_none=True), **tail})
        else:
            yield event({**head, "choices": last, **tail})


@router.post(
    "/v1/chat/completions", response_model=ChatCompletion, response_model_exclude_none=False, responses=ERROR_RESPONSES
)
async def chat_completions(
    body: ChatCompletionRequest,
    tenant: Tenant = Depends(chat_caller),
    state: GatewayState = Depends(get_state),
    pipeline: AnswerPipeline = Depends(get_pipeline),
    rid: str = Depends(request_id),
    clock: Stopwatch = Depends(request_clock),
):
    """OpenAI chat completions (plain or streamed), answered by the ragtune pipeline."""
    adapter = await resolve_model(state, body.model, tenant)
    options = requested_options(body)
    query = query_from_openai(body, adapter, tenant)
    check_supported(options, body, state.engine, query.mode)
    plan = await pipeline.plan(query, tenant, request_id=rid, route="openai", clock=clock)
    if options or has_tool_turns(body):  # the conversation verbatim (a mode without retrieval)
        plan.generation = plan.generation.model_copy(update={"messages": conversation(body), "options": options})
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = completion_chunks(pipeline, plan, body.model, include_usage)
        return sse_response(chunks, rid, pipeline.settings.gateway.sse_keepalive_s)
    response = await pipeline.answer(plan)
    return ChatCompletion(
        id=rid,
        created=int(time.time()),
        model=body.model,
        choices=choices_of(response),
        usage=completion_usage(response),
        citations=response.citations,
        ragtune=extras(response),
    )


@router.get("/v1/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(tenant: Tenant = Depends(chat_caller), state: GatewayState = Depends(get_state)) -> ModelList:
    """The base model and every adapter this key may use, adapters with their training card."""
    base = state.engine.base_model
    data = [ModelCard(id=base, created=STARTED, root=base)]
    for view in state.adapters.views():
        if state.adapters.may_use(tenant, view.name):
            data.append(ModelCard(id=view.name, created=STARTED, root=view.path, parent=base, card=view.card))
    return ModelList(data=data)
