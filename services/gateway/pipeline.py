"""The per-request flow shared by /v1/chat, /v1/compare and /v1/chat/completions.

retrieve → choose mode and adapter → build prompt → generate (or refuse) → cite → account.
``plan`` does everything up to the engine call (so caller errors surface before any streaming
starts); ``answer`` and ``stream`` run the engine and ``finish`` turns the outcome into a
``ChatResponse`` with citations, usage, latency and cost, then records metrics and the request log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragtune.errors import NotFoundError, RagtuneError
from services.engines.base import ChatMessage, GenerationRequest, GenerationResult, StreamDelta
from services.gateway.accounting import Stopwatch, compute_cost, make_usage, round_ms
from services.gateway.adapters import no_adapter_error
from services.gateway.citations import build_citations
from services.gateway.errors import InputLimitError
from services.gateway.output_guard import OutputGuard
from services.gateway.prompts import BuiltPrompt, build_prompt, uses_retrieval
from services.gateway.schemas import ALL_MODES, ChatResponse, CompareDelta, CompareResponse, Latency
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

log = logging.getLogger("ragtune.gateway")


@dataclass
class AnswerQuery:
    """One question to answer, already tied to a namespace the caller may use."""

    question: str
    mode: str
    namespace: str
    history: list[ChatMessage] = field(default_factory=list)
    adapter: str | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] | None = None
    seed: int | None = None
    style: str | None = None
    ignore_eos: bool = False
    repetition_penalty: float | None = None


@dataclass
class Retrieval:
    """The chunks retrieved for a question and which of them count as relevant."""

    hits: list[Any]
    relevant: list[Any]
    ms: float

    @property
    def found(self) -> bool:
        return bool(self.relevant)


@dataclass
class AnswerPlan:
    """Everything decided before the engine runs."""

    request_id: str
    tenant: str
    route: str
    requested_mode: str
    mode: str
    adapter: str | None
    namespace: str
    prompt: BuiltPrompt
    generation: GenerationRequest
    refused: bool
    question_tokens: int
    context_tokens: int
    retrieval_ms: float
    prompt_ms: float
    clock: Stopwatch
    mask_pii: bool = False
    """Mask personal data in the answer (the tenant's output guard, issue 17)."""


def _relevance(hit: Any) -> float:
    """The dense cosine of a hit (its ranking score when the embedder did not run)."""
    dense = getattr(hit, "dense_score", None)
    return float(hit.score if dense is None else dense)


class AnswerPipeline:
    """One implementation of the answer flow for every route."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.settings = state.settings
        self.guard = OutputGuard(state.settings.pii, state.metrics.registry)

    # --- checks and choices ---------------------------------------------------------------------
    def check_limits(self, query: AnswerQuery) -> None:
        """Configured input limits (422 with the limit named)."""
        gateway = self.settings.gateway
        if len(query.question) > gateway.max_question_chars:
            raise InputLimitError(f"question is {len(query.question)} characters; the limit is "
                                  f"{gateway.max_question_chars}")
        if not query.question.strip():
            raise InputLimitError("question is empty")
        if len(query.history) + 1 > gateway.max_messages:
            raise InputLimitError(f"at most {gateway.max_messages} messages per request")
        if sum(len(m.content) for m in query.history) > gateway.max_question_chars * 4:
            raise InputLimitError(f"the conversation is over {gateway.max_question_chars * 4} characters")
        if query.max_tokens is not None and query.max_tokens > gateway.max_tokens_limit:
            raise InputLimitError(f"max_tokens {query.max_tokens} is over the limit {gateway.max_tokens_limit}")
        if query.top_k is not None and query.top_k > gateway.max_top_k:
            raise InputLimitError(f"top_k {query.top_k} is over the limit {gateway.max_top_k}")

    async def check_adapter(self, name: str, tenant: Tenant) -> str:
        """``name`` if it is loaded (or found in the adapters folder) and the tenant may use it
        (403 before 404: no probing)."""
        tenant.check_adapter(name)
        if not await self.state.adapters.find(name):
            raise NotFoundError(f"adapter '{name}' is not loaded (loaded: {', '.join(self.state.adapters.names()) or 'none'})")
        return name

    def default_adapter(self, tenant: Tenant) -> str | None:
        return self.state.adapters.default_for(tenant.may_use_adapter, self.settings.gateway.default_adapter)

    async def choose_adapter(self, mode: str, requested: str | None, tenant: Tenant) -> str | None:
        """The adapter a mode runs with; errors for adapters in adapter-free modes or none available."""
        if mode in ("base", "rag"):
            if requested is not None:
                raise RagtuneError(f"mode '{mode}' uses no adapter; use mode "
                                   f"'{'ft' if mode == 'base' else 'hybrid'}' to answer with '{requested}'")
            return None
        if requested is not None:
            return await self.check_adapter(requested, tenant)
        adapter = self.default_adapter(tenant)
        if adapter is None and mode in ("ft", "hybrid"):
            raise no_adapter_error(mode)
        return adapter

    @staticmethod
    def choose_auto_mode(retrieval: Retrieval, adapter: str | None) -> str:
        """``auto``: answer from the documents when retrieval found something relevant, in the
        brand voice when an adapter is available; otherwise from the model alone."""
        if retrieval.found:
            return "hybrid" if adapter else "rag"
        return "ft" if adapter else "base"

    # --- retrieval ------------------------------------------------------------------------------
    async def retrieve(self, question: str, namespace: str, top_k: int | None) -> Retrieval:
        """Search the namespace; hits whose dense cosine is under ``index.min_score`` are irrelevant."""
        store = self.state.require_store()
        k = top_k or self.settings.index.top_k
        clock = Stopwatch()
        hits = await self.state.run_index(store.search, question, k=k, namespace=namespace,
                                          mode=self.settings.index.retrieval)
        ms = clock.ms()
        relevant = [h for h in hits if _relevance(h) >= self.settings.index.min_score]
        return Retrieval(hits=list(hits), relevant=relevant, ms=ms)

    # --- planning -------------------------------------------------------------------------------
    async def plan(self, query: AnswerQuery, tenant: Tenant, *, request_id: str, route: str,
                   clock: Stopwatch | None = None, retrieval: Retrieval | None = None) -> AnswerPlan:
        """Check, retrieve, choose and build the prompt; raises caller errors before any output."""
        clock = clock or Stopwatch()
        self.check_limits(query)
        adapter = await self.choose_adapter(query.mode, query.adapter, tenant)
        mode = query.mode
        if mode == "auto" or uses_retrieval(mode):
            if retrieval is None:
                retrieval = await self.retrieve(query.question, query.namespace, query.top_k)
            if mode == "auto":
                mode = self.choose_auto_mode(retrieval, adapter)
        if mode in ("base", "rag"):
            adapter = None
        prompt_clock = Stopwatch()
        chunks = retrieval.relevant if (retrieval is not None and uses_retrieval(mode)) else []
        refused = uses_retrieval(mode) and not chunks
        style = query.style or self.settings.gateway.style_instruction
        prompt = build_prompt(mode, query.question, history=query.history, chunks=chunks, style=style)
        question_tokens = self.state.counter.count(prompt.question)
        context_tokens = self.state.counter.count(prompt.context)
        generation = GenerationRequest(
            messages=prompt.messages, adapter=adapter,
            max_tokens=query.max_tokens or self.settings.gateway.default_max_tokens,
            temperature=query.temperature, top_p=query.top_p, stop=query.stop, seed=query.seed,
            ignore_eos=query.ignore_eos,
            repetition_penalty=query.repetition_penalty or self.settings.gateway.repetition_penalty,
        )
        return AnswerPlan(
            request_id=request_id, tenant=tenant.name, route=route, requested_mode=query.mode, mode=mode,
            adapter=adapter, namespace=query.namespace, prompt=prompt, generation=generation,
            refused=refused, question_tokens=question_tokens, context_tokens=context_tokens,
            retrieval_ms=retrieval.ms if (retrieval is not None and uses_retrieval(mode)) else 0.0,
            prompt_ms=prompt_clock.ms(), clock=clock, mask_pii=tenant.mask_output_pii,
        )

    # --- running --------------------------------------------------------------------------------
    async def answer(self, plan: AnswerPlan) -> ChatResponse:
        """Generate (or refuse) and account."""
        if plan.refused:
            return self.finish(plan, self.settings.gateway.refusal_text, None)
        result = await self.state.engine.generate(plan.generation)
        return self.finish(plan, self.guard.mask(result.text) if plan.mask_pii else result.text, result)

    async def stream(self, plan: AnswerPlan) -> AsyncIterator[str | ChatResponse]:
        """Yield pieces of answer text, then the finished ChatResponse."""
        if plan.refused:
            text = self.settings.gateway.refusal_text
            yield text
            yield self.finish(plan, text, None)
            return
        pieces: list[str] = []
        result: GenerationResult | None = None
        guard = self.guard.stream() if plan.mask_pii else None
        async for event in self.state.engine.stream(plan.generation):
            if isinstance(event, StreamDelta):
                piece = guard.feed(event.text) if guard else event.text
                if piece:
                    pieces.append(piece)
                    yield piece
            else:
                result = event
        if result is None:
            raise RagtuneError("the engine ended the stream without its accounting")
        if guard is not None:  # the output guard: the held-back rest, and the answer as it was sent
            if rest := guard.flush():
                pieces.append(rest)
                yield rest
            self.guard.count(guard.masker)
            yield self.finish(plan, "".join(pieces), result)
            return
        yield self.finish(plan, result.text or "".join(pieces), result)

    def finish(self, plan: AnswerPlan, text: str, result: GenerationResult | None) -> ChatResponse:
        """Citations, usage, latency and cost of a finished answer; metrics and the log follow it."""
        prompt_tokens = result.prompt_tokens if result else 0
        completion_tokens = result.completion_tokens if result else 0
        ttft = result.ttft_ms if result else 0.0
        generation_ms = result.generation_ms if result else 0.0
        cost = compute_cost(
            self.settings.prices,
            model_names=[n for n in (plan.adapter, self.state.engine.base_model) if n],
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            prefill_ms=ttft, decode_ms=generation_ms,
        )
        response = ChatResponse(
            id=plan.request_id, mode=plan.mode, adapter=plan.adapter, answer=text,
            citations=build_citations(text, plan.prompt.chunks) if not plan.refused else [],
            usage=make_usage(question_tokens=plan.question_tokens, context_tokens=plan.context_tokens,
                             prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            latency_ms=Latency(retrieval=round_ms(plan.retrieval_ms), prompt=round_ms(plan.prompt_ms),
                               ttft=round_ms(ttft), generation=round_ms(generation_ms),
                               total=round_ms(plan.clock.ms())),
            cost=cost, requested_mode=plan.requested_mode, refused=plan.refused,
            model=self.state.engine.base_model, namespace=plan.namespace,
            finish_reason=result.finish_reason if result else "refused",
        )
        try:  # metrics and the request log once the answer is on its way: they never delay it
            asyncio.get_running_loop().call_soon(self._record, response, plan)
        except RuntimeError:  # no event loop (a synchronous caller): record now
            self._record(response, plan)
        return response

    def _record(self, response: ChatResponse, plan: AnswerPlan) -> None:
        """Prometheus metrics and the durable request log (which feedback refers to) for one answer."""
        self.state.metrics.observe(response, plan.route)
        try:
            self.state.feedback.log_request(response, plan.tenant)
        except Exception:  # noqa: BLE001 - a full disk must not cost the user the answer
            log.exception("could not log request %s", plan.request_id)

    # --- compare --------------------------------------------------------------------------------
    async def compare(self, query: AnswerQuery, tenant: Tenant, modes: Sequence[str] | None, *,
                      request_id: str) -> CompareResponse:
        """The question in several modes over the same retrieved context, run concurrently."""
        clock = Stopwatch()
        self.check_limits(query)
        wanted = list(dict.fromkeys(modes or ALL_MODES))
        skipped: dict[str, str] = {}
        adapter = query.adapter
        if any(m in ("ft", "hybrid") for m in wanted):
            adapter = await self.check_adapter(adapter, tenant) if adapter else self.default_adapter(tenant)
            if adapter is None:
                if modes:
                    raise no_adapter_error("ft" if "ft" in wanted else "hybrid")
                for mode in ("ft", "hybrid"):
                    skipped[mode] = "no adapter is loaded for this key"
                wanted = [m for m in wanted if m not in skipped]
        retrieval = None
        if any(uses_retrieval(m) for m in wanted):
            retrieval = await self.retrieve(query.question, query.namespace, query.top_k)
        plans = []
        for mode in wanted:
            sub = AnswerQuery(**{**query.__dict__, "mode": mode,
                                 "adapter": adapter if mode in ("ft", "hybrid") else None})
            plans.append(await self.plan(sub, tenant, request_id=f"{request_id}-{mode}", route="compare",
                                         clock=clock, retrieval=retrieval))
        results = await asyncio.gather(*(self.answer(p) for p in plans))
        baseline = next((r for r in results if r.mode == "rag"), None)
        deltas = {r.mode: _delta(r, baseline) for r in results} if baseline else {}
        return CompareResponse(id=request_id, question=query.question, baseline="rag" if baseline else None,
                               results=list(results), deltas=deltas, skipped=skipped)


def _delta(result: ChatResponse, baseline: ChatResponse) -> CompareDelta:
    u, b = result.usage, baseline.usage
    return CompareDelta(
        prompt_tokens=u.prompt_tokens - b.prompt_tokens,
        completion_tokens=u.completion_tokens - b.completion_tokens,
        total_tokens=u.total_tokens - b.total_tokens,
        context_tokens=u.context_tokens - b.context_tokens,
        latency_ms=round_ms(result.latency_ms.total - baseline.latency_ms.total),
        ttft_ms=round_ms(result.latency_ms.ttft - baseline.latency_ms.ttft),
        cost_usd=result.cost.usd - baseline.cost.usd,
    )
