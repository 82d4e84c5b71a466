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
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.settings import Settings
from services.engines.base import ChatMessage, Engine, GenerationRequest, GenerationResult, StreamDelta
from services.gateway.accounting import Stopwatch, TokenCounter, compute_cost, make_usage, round_ms
from services.gateway.adapters import AdapterRegistry, adapter_of, no_adapter_error
from services.gateway.budgets import Budgets
from services.gateway.citations import build_citations
from services.gateway.engine_time import EngineTimeLedger, Share
from services.gateway.errors import InputLimitError
from services.gateway.loops import LoopDetector
from services.gateway.output_guard import OutputGuard
from services.gateway.prompts import BuiltPrompt, build_prompt
from services.gateway.schemas import ChatResponse, CompareDelta, CompareResponse, Latency
from services.gateway.tenants import Tenant
from services.modes import COMPARE_BASELINE, Mode
from training.context import is_context_aware

if TYPE_CHECKING:
    from services.gateway.state import GatewayState

log = logging.getLogger("ragtune.gateway")


@dataclass
class AnswerQuery:
    """One question to answer, already tied to a namespace the caller may use."""

    question: str
    mode: Mode
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
    requested_mode: Mode
    mode: Mode
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


@dataclass
class GuardedOutcome:
    """How a guarded generation ended: the answer text, its accounting, and whether it looped."""

    text: str
    result: GenerationResult
    looped: bool


class Searcher(Protocol):
    """What the pipeline needs from the index (``services.gateway.state.IndexAccess``)."""

    async def search(self, query: str, *, k: int, namespace: str) -> list[Any]: ...


class Recorder(Protocol):
    """Where a finished answer is recorded (metrics, the request log)."""

    def __call__(self, response: ChatResponse, plan: AnswerPlan) -> None: ...


class AnswerPipeline:
    """One implementation of the answer flow for every route."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        index: Searcher,
        counter: TokenCounter,
        adapters: AdapterRegistry,
        record: Recorder | None = None,
        guard: OutputGuard | None = None,
        ledger: EngineTimeLedger | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.settings = settings
        self.budgets = budgets
        """Daily token / USD budgets per key, checked before every generation (429 when spent)."""
        self.ledger = ledger or EngineTimeLedger()
        """Shares the engine's time among concurrent requests (the self-hosted cost)."""
        self.engine = engine
        self.index = index
        self.counter = counter
        self.adapters = adapters
        self.record = record
        self.guard = guard if guard is not None else OutputGuard(settings.pii, CollectorRegistry())
        """Masks personal data in answers of tenants with ``mask_output_pii`` (counted in metrics)."""
        self._warned: set[tuple[str, bool]] = set()

    @classmethod
    def from_state(cls, state: GatewayState) -> AnswerPipeline:
        """The pipeline of a running gateway: its engine, index, tokenizer and adapters; answers
        are recorded in its metrics and request log."""

        def record(response: ChatResponse, plan: AnswerPlan) -> None:
            state.metrics.observe(response, plan.route)
            try:
                state.feedback.log_request(response, plan.tenant)
                if state.exchanges is not None:  # kept for tenants that chose it (services/improve)
                    cited = [c.chunk_id for c in response.citations if c.cited]
                    state.exchanges.keep(
                        response.id, plan.tenant, plan.prompt.question, response.answer, cited, response.refused
                    )
            except Exception:  # noqa: BLE001 - a full disk must not cost the user the answer
                log.exception("could not log request %s", plan.request_id)

        from services.gateway.admission import AdmissionControl, AdmittedEngine

        engine = AdmittedEngine(state.engine, AdmissionControl(state.settings.gateway.admission))
        return cls(
            settings=state.settings,
            engine=engine,
            index=state.index,
            counter=state.counter,
            adapters=state.adapters,
            record=record,
            guard=OutputGuard(state.settings.pii, state.metrics.registry),
            budgets=Budgets.from_settings(state.settings.gateway, state.feedback.spend_since),
        )

    # --- checks and choices ---------------------------------------------------------------------
    def check_limits(self, query: AnswerQuery) -> None:
        """Configured input limits (422 with the limit named)."""
        gateway = self.settings.gateway
        if len(query.question) > gateway.max_question_chars:
            raise InputLimitError(
                f"question is {len(query.question)} characters; the limit is {gateway.max_question_chars}"
            )
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
        tenant.check_adapter(adapter_of(name))  # a version of an adapter: the adapter's rights
        resolved = await self.adapters.resolve(name, tenant)
        if resolved is None:
            loaded = ", ".join(n for n in self.adapters.names() if self.adapters.may_use(tenant, n)) or "none"
            raise NotFoundError(f"adapter '{name}' is not loaded (loaded: {loaded})")
        self.adapters.check_use(tenant, resolved)  # another tenant's, or an admin's not shared: 403
        return resolved

    def default_adapter(self, tenant: Tenant) -> str | None:
        return self.adapters.default_for(
            lambda name: self.adapters.may_use(tenant, name), self.settings.gateway.default_adapter
        )

    async def choose_adapter(self, mode: Mode, requested: str | None, tenant: Tenant) -> str | None:
        """The adapter a mode runs with; errors for adapters in adapter-free modes or none available."""
        if mode.is_answer_mode and not mode.uses_adapter:
            if requested is not None:
                raise RagtuneError(
                    f"mode '{mode}' uses no adapter; use mode "
                    f"'{mode.adapter_counterpart()}' to answer with '{requested}'"
                )
            return None
        if requested is not None:
            return await self.check_adapter(requested, tenant)
        adapter = self.default_adapter(tenant)
        if adapter is None and mode.uses_adapter:
            raise no_adapter_error(mode)
        return None if adapter is None else await self.check_adapter(adapter, tenant)  # its promoted version

    @staticmethod
    def choose_auto_mode(retrieval: Retrieval, adapter: str | None) -> Mode:
        """``auto``: answer from the documents when retrieval found something relevant, in the
        brand voice when an adapter is available; otherwise from the model alone."""
        return Mode.with_traits(retrieval=retrieval.found, adapter=adapter is not None)

    def warn_on_mismatch(self, adapter: str, mode: Mode) -> None:
        """Log (once per adapter and kind) a context-aware adapter answering without retrieval, or a
        plain one answering over retrieved context: both lose voice or facts (issue 15)."""
        aware = is_context_aware(self.adapters.card(adapter))
        if aware == mode.uses_retrieval or (adapter, aware) in self._warned:
            return
        self._warned.add((adapter, aware))
        if aware:
            log.warning(
                "adapter '%s' was trained with retrieved context but answers in mode '%s' without it; use mode hybrid",
                adapter,
                mode,
            )
        else:
            log.warning(
                "adapter '%s' was trained without retrieved context but answers in mode '%s' over "
                "retrieved passages; train it with context (training.context.train_with_context) for hybrid",
                adapter,
                mode,
            )

    # --- retrieval ------------------------------------------------------------------------------
    async def retrieve(self, question: str, namespace: str, top_k: int | None) -> Retrieval:
        """Search the namespace; hits whose dense cosine is under ``index.min_score`` are irrelevant."""
        k = top_k or self.settings.index.top_k
        clock = Stopwatch()
        hits = await self.index.search(question, k=k, namespace=namespace)
        ms = clock.ms()
        relevant = [h for h in hits if _relevance(h) >= self.settings.index.min_score]
        return Retrieval(hits=list(hits), relevant=relevant, ms=ms)

    # --- planning -------------------------------------------------------------------------------
    async def plan(
        self,
        query: AnswerQuery,
        tenant: Tenant,
        *,
        request_id: str,
        route: str,
        clock: Stopwatch | None = None,
        retrieval: Retrieval | None = None,
    ) -> AnswerPlan:
        """Check, retrieve, choose and build the prompt; raises caller errors before any output."""
        clock = clock or Stopwatch()
        self.check_limits(query)
        if self.budgets is not None:
            self.budgets.check(tenant.name, tenant.budget)
        adapter = await self.choose_adapter(query.mode, query.adapter, tenant)
        mode = query.mode
        if mode.uses_retrieval:
            if retrieval is None:
                retrieval = await self.retrieve(query.question, query.namespace, query.top_k)
            if not mode.is_answer_mode:
                mode = self.choose_auto_mode(retrieval, adapter)
        if not mode.uses_adapter:
            adapter = None
        if adapter is not None:
            self.warn_on_mismatch(adapter, mode)
        prompt_clock = Stopwatch()
        chunks = retrieval.relevant if (retrieval is not None and mode.uses_retrieval) else []
        refused = mode.uses_retrieval and not chunks
        style = query.style or self.settings.gateway.style_instruction
        prompt = build_prompt(mode, query.question, history=query.history, chunks=chunks, style=style)
        question_tokens = self.counter.count(prompt.question)
        context_tokens = self.counter.count(prompt.context)
        generation = GenerationRequest(
            messages=prompt.messages,
            adapter=adapter,
            max_tokens=query.max_tokens or self.settings.gateway.default_max_tokens,
            temperature=query.temperature,
            top_p=query.top_p,
            stop=query.stop,
            seed=query.seed,
            ignore_eos=query.ignore_eos,
            repetition_penalty=query.repetition_penalty or self.settings.gateway.repetition_penalty,
        )
        return AnswerPlan(
            request_id=request_id,
            tenant=tenant.name,
            route=route,
            requested_mode=query.mode,
            mode=mode,
            adapter=adapter,
            namespace=query.namespace,
            prompt=prompt,
            generation=generation,
            refused=refused,
            question_tokens=question_tokens,
            context_tokens=context_tokens,
            retrieval_ms=retrieval.ms if (retrieval is not None and mode.uses_retrieval) else 0.0,
            prompt_ms=prompt_clock.ms(),
            clock=clock,
            mask_pii=tenant.mask_output_pii,
        )

    # --- running --------------------------------------------------------------------------------
    async def answer(self, plan: AnswerPlan) -> ChatResponse:
        """Generate (or refuse) and account."""
        if plan.refused:
            return self.finish(plan, self.settings.gateway.refusal_text, None)
        if plan.generation.options:  # OpenAI options (choices, tools, logprobs): the engine's own result
            ticket = self.ledger.start()
            try:
                result = await self.engine.generate(plan.generation)
            finally:
                share = self.ledger.stop(ticket)
            return self.finish(plan, result.text, result, share)
        outcome: GuardedOutcome | None = None
        ticket = self.ledger.start()
        try:
            async for item in self.generate_guarded(plan):
                if isinstance(item, GuardedOutcome):
                    outcome = item
        finally:
            share = self.ledger.stop(ticket)
        assert outcome is not None  # generate_guarded always ends with one
        text = self.guard.mask(outcome.text) if plan.mask_pii else outcome.text
        return self.finish(plan, text, outcome.result, share, looped=outcome.looped)

    async def stream(self, plan: AnswerPlan) -> AsyncIterator[str | StreamDelta | ChatResponse]:
        """Yield pieces of answer text (a StreamDelta where one carries tool calls, logprobs or another
        choice), then the finished ChatResponse."""
        if plan.refused:
            text = self.settings.gateway.refusal_text
            yield text
            yield self.finish(plan, text, None)
            return
        if plan.generation.options:  # OpenAI options: every choice, tool call and logprob as it comes
            pieces: list[str] = []
            result: GenerationResult | None = None
            ticket = self.ledger.start()
            try:
                async for event in self.engine.stream(plan.generation):
                    if isinstance(event, StreamDelta):
                        if event.index == 0:
                            pieces.append(event.text)
                        # more than first-choice text only when the request asked for OpenAI options
                        yield event.text if event.plain else event
                    else:
                        result = event
            finally:
                share = self.ledger.stop(ticket)
            if result is None:
                raise RagtuneError("the engine ended the stream without its accounting")
            yield self.finish(plan, result.text or "".join(pieces), result, share)
            return
        guard = self.guard.stream() if plan.mask_pii else None
        outcome: GuardedOutcome | None = None
        ticket = self.ledger.start()
        try:
            async for item in self.generate_guarded(plan):
                if isinstance(item, GuardedOutcome):
                    outcome = item
                    continue
                piece = guard.feed(item) if guard is not None else item
                if piece:
                    yield piece
        finally:
            share = self.ledger.stop(ticket)
        assert outcome is not None  # generate_guarded always ends with one
        text = outcome.text
        if guard is not None:  # the output guard: the held-back rest, then the answer masked alike
            if rest := guard.flush():
                yield rest
            self.guard.count(guard.masker)
            text = guard.masker.mask(outcome.text)
        yield self.finish(plan, text, outcome.result, share, looped=outcome.looped)

    async def generate_guarded(self, plan: AnswerPlan) -> AsyncIterator[str | GuardedOutcome]:
        """The engine's stream, stopped as soon as the answer loops (``services.gateway.loops``): the
        text pieces as they come, then one ``GuardedOutcome`` whose text is cut before the loop's
        second copy. A stopped generation has no engine accounting, so its prompt and completion
        tokens are counted here with the generator's tokenizer (the chat template's few tokens aside)."""
        detector = LoopDetector(self.settings.gateway.loops)
        clock = Stopwatch()
        first_ms: float | None = None
        result: GenerationResult | None = None
        events = self.engine.stream(plan.generation)
        try:
            async for event in events:
                if not isinstance(event, StreamDelta):
                    result = event
                    continue
                if first_ms is None:
                    first_ms = clock.ms()
                yield event.text
                if detector.feed(event.text) is not None:
                    break  # closing the stream below stops the engine's generation
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        if result is None and detector.loop is None:
            raise RagtuneError("the engine ended the stream without its accounting")
        if result is not None and detector.loop is None:
            streamed = detector.text
            detector = LoopDetector(self.settings.gateway.loops)
            detector.feed(result.text or streamed)  # the engine's own text (its last delta may be held back)
            if detector.finish() is None:
                yield GuardedOutcome(text=result.text or streamed, result=result, looped=False)
                return
        assert detector.loop is not None
        total_ms = clock.ms()
        if result is not None:  # the loop ended with the generation: the engine's own counts
            accounting = result.model_copy(update={"text": detector.answer(), "finish_reason": "stop"})
        else:
            accounting = GenerationResult(
                text=detector.answer(),
                finish_reason="stop",
                completion_tokens=self.counter.count(detector.text),
                prompt_tokens=sum(self.counter.count(m.content) for m in plan.generation.messages),
                ttft_ms=first_ms if first_ms is not None else total_ms,
                total_ms=total_ms,
            )
        log.info(
            "request %s: stopped a looping answer (%s: %r)",
            plan.request_id,
            detector.loop.kind,
            detector.loop.unit[:80],
        )
        yield GuardedOutcome(text=detector.answer(), result=accounting, looped=True)

    def finish(
        self,
        plan: AnswerPlan,
        text: str,
        result: GenerationResult | None,
        share: Share | None = None,
        *,
        looped: bool = False,
    ) -> ChatResponse:
        """Citations, usage, latency and cost of a finished answer; metrics and the log follow it.

        ``share`` is the request's fair share of the engine (``engine_time``): the self-hosted cost
        bills that fraction of its engine time, which concurrent requests overlap."""
        prompt_tokens = result.prompt_tokens if result else 0
        completion_tokens = result.completion_tokens if result else 0
        ttft = result.ttft_ms if result else 0.0
        generation_ms = result.generation_ms if result else 0.0
        fraction = share.fraction if share is not None else 1.0
        billed_prefill, billed_decode = ttft * fraction, generation_ms * fraction
        cost = compute_cost(
            self.settings.prices,
            model_names=[n for n in (plan.adapter, self.engine.base_model) if n],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            prefill_ms=billed_prefill,
            decode_ms=billed_decode,
        )
        response = ChatResponse(
            id=plan.request_id,
            mode=plan.mode,
            adapter=plan.adapter,
            answer=text,
            citations=build_citations(text, plan.prompt.chunks) if not plan.refused else [],
            usage=make_usage(
                question_tokens=plan.question_tokens,
                context_tokens=plan.context_tokens,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            ),
            latency_ms=Latency(
                retrieval=round_ms(plan.retrieval_ms),
                prompt=round_ms(plan.prompt_ms),
                ttft=round_ms(ttft),
                generation=round_ms(generation_ms),
                total=round_ms(plan.clock.ms()),
            ),
            cost=cost,
            requested_mode=plan.requested_mode,
            refused=plan.refused,
            model=self.engine.base_model,
            namespace=plan.namespace,
            finish_reason=("stop" if looped else result.finish_reason) if result else "refused",
            loop_stopped=looped,
        ).attach(result)
        if self.record is not None:
            try:  # metrics and the request log once the answer is on its way: they never delay it
                asyncio.get_running_loop().call_soon(self.record, response, plan)
            except RuntimeError:  # no event loop (a synchronous caller): record now
                self.record(response, plan)
        return response

    # --- compare --------------------------------------------------------------------------------
    async def compare(
        self, query: AnswerQuery, tenant: Tenant, modes: Sequence[Mode] | None, *, request_id: str
    ) -> CompareResponse:
        """The question in several modes over the same retrieved context, run concurrently; deltas
        against ``COMPARE_BASELINE`` when it ran."""
        clock = Stopwatch()
        self.check_limits(query)
        if self.budgets is not None:
            self.budgets.check(tenant.name, tenant.budget)
        wanted = list(dict.fromkeys(modes or Mode.answer_modes()))
        skipped: dict[str, str] = {}
        adapter = query.adapter
        if any(m.uses_adapter for m in wanted):
            adapter = await self.check_adapter(adapter, tenant) if adapter else self.default_adapter(tenant)
            if adapter is None:
                if modes:
                    raise no_adapter_error(next(m for m in wanted if m.uses_adapter))
                skipped = {m: "no adapter is loaded for this key" for m in wanted if m.uses_adapter}
                wanted = [m for m in wanted if m not in skipped]
        retrieval = None
        if any(m.uses_retrieval for m in wanted):
            retrieval = await self.retrieve(query.question, query.namespace, query.top_k)
        plans = []
        for mode in wanted:
            sub = AnswerQuery(**{**query.__dict__, "mode": mode, "adapter": adapter if mode.uses_adapter else None})
            plans.append(
                await self.plan(
                    sub, tenant, request_id=f"{request_id}-{mode}", route="compare", clock=clock, retrieval=retrieval
                )
            )
        results = await asyncio.gather(*(self.answer(p) for p in plans))
        baseline = next((r for r in results if r.mode == COMPARE_BASELINE), None)
        deltas = {r.mode.value: _delta(r, baseline) for r in results} if baseline else {}
        return CompareResponse(
            id=request_id,
            question=query.question,
            baseline=COMPARE_BASELINE if baseline else None,
            results=list(results),
            deltas=deltas,
            skipped=skipped,
        )


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
