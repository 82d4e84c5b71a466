"""Pydantic models for every gateway route: the gateway's JSON contract (served as /openapi.json).

Request models reject unknown fields (``extra="forbid"``) except the OpenAI-compatible ones, which
ignore them the way OpenAI-compatible servers do, so the official ``openai`` client works unchanged.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ragtune.names import NAME_PATTERN, REF_PATTERN
from services.engines.base import GenerationResult
from services.modes import AnswerMode, Mode


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- /v1/chat -------------------------------------------------------------------------------
class Message(StrictModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class ChatRequest(StrictModel):
    """``question`` or ``messages`` (the last one from the user), plus how to answer it."""

    question: str | None = Field(None, min_length=1)
    messages: list[Message] | None = Field(None, min_length=1)
    mode: Mode = Mode.AUTO
    adapter: str | None = Field(None, pattern=REF_PATTERN)
    """An adapter, or one version of it: ``NAME@v2``."""
    top_k: int | None = Field(None, ge=1, le=50)
    namespace: str | None = Field(None, pattern=NAME_PATTERN)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    repetition_penalty: float | None = Field(None, ge=1.0, le=2.0)
    """> 1 discourages repeating tokens (default: the gateway's setting; 1.0 turns it off)."""
    stream: bool = False
    style: str | None = Field(None, max_length=2000)
    """A brand-voice instruction added to the prompt of ``rag`` answers."""

    @model_validator(mode="after")
    def _question_or_messages(self) -> ChatRequest:
        if (self.question is None) == (self.messages is None):
            raise ValueError("give exactly one of 'question' or 'messages'")
        if self.messages is not None and self.messages[-1].role != "user":
            raise ValueError("the last message must come from the user")
        return self


class Citation(BaseModel):
    """One numbered context chunk shown to the model; ``marker`` is the n of ``[n]``."""

    marker: int
    doc_id: str
    chunk_id: str
    title: str | None = None
    section: str | None = None
    source: str | None = None
    page: int | None = None
    """The (1-based) PDF page the chunk starts on; None for documents without pages."""
    page_end: int | None = None
    """The page it ends on when it goes on over a page end; else None."""
    text: str
    score: float
    """The retriever's ranking score (cosine, BM25 or reciprocal-rank fusion, per index settings)."""
    dense_score: float | None = None
    """Cosine similarity of question and chunk (what the "I don't know" threshold compares)."""
    cited: bool = False
    """True when the answer contains this chunk's ``[n]`` marker."""


class Usage(BaseModel):
    """Tokens by kind, counted with the generator's tokenizer (prompt/completion: the engine's)."""

    question_tokens: int = 0
    context_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Latency(BaseModel):
    """Milliseconds by stage."""

    retrieval: float = 0.0
    prompt: float = 0.0
    ttft: float = 0.0
    generation: float = 0.0
    total: float = 0.0


class Cost(BaseModel):
    usd: float = 0.0
    input_usd: float = 0.0
    output_usd: float = 0.0
    price_source: str
    """``per_model:NAME`` (configured $/1M tokens) or ``self_hosted`` (engine seconds × $/hour)."""


class ChatResponse(BaseModel):
    id: str
    mode: AnswerMode
    adapter: str | None
    answer: str
    citations: list[Citation]
    usage: Usage
    latency_ms: Latency
    cost: Cost
    requested_mode: Mode
    """What the caller asked for (``auto`` shows here; ``mode`` is what ran)."""
    refused: bool = False
    """True when retrieval found nothing relevant and the gateway answered "I don't know"."""
    model: str
    namespace: str | None = None
    finish_reason: str | None = None
    loop_stopped: bool = False
    """True when the answer started repeating itself and the gateway stopped it there (the answer
    is cut before the repeated unit's second copy; ``finish_reason`` is then ``stop``)."""
    _engine_result: GenerationResult | None = PrivateAttr(None)

    @property
    def engine_result(self) -> GenerationResult | None:
        """The engine's own outcome (choices, tool calls, logprobs, cached tokens); not serialized."""
        return self._engine_result

    def attach(self, result: GenerationResult | None) -> ChatResponse:
        self._engine_result = result
        return self


class StreamDeltaEvent(BaseModel):
    delta: str


# --- /v1/compare ----------------------------------------------------------------------------
class CompareRequest(StrictModel):
    question: str = Field(min_length=1)
    modes: list[AnswerMode] | None = Field(None, min_length=1, max_length=len(Mode.answer_modes()))
    adapter: str | None = Field(None, pattern=REF_PATTERN)
    """An adapter, or one version of it: ``NAME@v2``."""
    top_k: int | None = Field(None, ge=1, le=50)
    namespace: str | None = Field(None, pattern=NAME_PATTERN)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)


class CompareDelta(BaseModel):
    """This mode minus the baseline (``rag``); positive means more."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    context_tokens: int
    latency_ms: float
    ttft_ms: float
    cost_usd: float


class CompareResponse(BaseModel):
    id: str
    question: str
    baseline: AnswerMode | None
    results: list[ChatResponse]
    deltas: dict[str, CompareDelta]
    skipped: dict[str, str] = Field(default_factory=dict)
    """Modes of the default set that could not run (e.g. ``ft`` with no adapter) and why."""


# --- adapters and models --------------------------------------------------------------------
class AdapterRegisterRequest(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    path: str | None = Field(None, min_length=1, max_length=4096)
    """A peft adapter folder; default: the key's own folder RAGTUNE_HOME/tenants/TENANT/adapters/NAME
    (admin keys: RAGTUNE_HOME/adapters/NAME). A non-admin key registers only from its own folder."""
    shared: bool = False
    """Admin only: every key may use this adapter (within its ``adapters`` list)."""
    owner: str | None = Field(None, pattern=NAME_PATTERN)
    """Admin only: assign the adapter to this tenant (default: the tenant whose folder holds it)."""


class AdapterView(BaseModel):
    name: str
    path: str
    card: dict[str, Any] | None = None
    owner: str | None = None
    """The tenant the adapter belongs to; None: an admin's adapter."""
    shared: bool = False
    """Every key may use it (an admin's choice)."""


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ragtune"
    root: str | None = None
    parent: str | None = None
    card: dict[str, Any] | None = None
    """For adapters: base model, data hash, eval scores, created (the training card)."""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- documents ------------------------------------------------------------------------------
class DocumentList(BaseModel):
    namespace: str
    documents: list[dict[str, Any]]


class SearchResults(BaseModel):
    results: list[dict[str, Any]]
    """Chunks best first: doc_id, chunk_id, title, section, source, text, score, dense_score, bm25_score…"""


class DocumentsAdded(BaseModel):
    namespace: str
    reports: list[dict[str, Any]]


class DocumentDeleted(BaseModel):
    namespace: str
    doc_id: str
    deleted: bool


# --- feedback -------------------------------------------------------------------------------
class FeedbackRequest(StrictModel):
    request_id: str = Field(min_length=1, max_length=128)
    rating: Literal[-1, 1]
    resolved: bool
    """True when the answer settled the question without a human taking over."""
    comment: str | None = Field(None, max_length=4000)
    correction: str | None = Field(None, min_length=1, max_length=8000)
    """A better answer written by the rater; kept (with the exchange) only for tenants that keep
    exchanges, and then training data for ``ragtune data from-feedback``."""
    handling_s: float | None = Field(None, ge=0, le=30 * 86400)
    """How long the question took to handle, in seconds, as the client measured it (a helpdesk's
    ticket time); without it the KPIs count from the request to this feedback."""


class FeedbackStored(BaseModel):
    request_id: str
    stored: bool = True


def share(part: int, whole: int) -> float | None:
    """``part / whole`` to 4 decimals; None when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


class KpiCounts(BaseModel):
    """Requests, how many were rated, and the shares of the rated ones rated good and resolved."""

    requests: int
    rated: int
    good: int
    good_share: float | None
    """Share of rated requests rated good (rating 1)."""
    resolved: int
    resolved_share: float | None
    """Share of rated requests resolved without a human (feedback ``resolved: true``)."""

    @classmethod
    def counted(cls, *, rated: int, good: int, resolved: int, **fields: Any) -> Self:
        """The model with both shares computed from the counts (None when nothing was rated)."""
        return cls(
            rated=rated,
            good=good,
            good_share=share(good, rated),
            resolved=resolved,
            resolved_share=share(resolved, rated),
            **fields,
        )


class KpiRow(KpiCounts):
    mode: str
    adapter: str | None


class KpiPoint(KpiCounts):
    """The KPIs of one period (and one mode / adapter / tenant where the trend is grouped by it)."""

    period: str
    """The period's first day (UTC, ISO date; weeks start on Monday)."""
    mode: str | None = None
    adapter: str | None = None
    """The adapter as the request log names it (``NAME`` or ``NAME@VERSION``)."""
    tenant: str | None = None
    handling_s: float | None
    """Mean handling time of the rated requests: the client-reported ``handling_s`` of their
    feedback, else the seconds from the request to its feedback."""
    cost_usd: float
    """What every request of the group cost."""
    cost_per_resolved_usd: float | None
    """What the rated requests cost, divided by how many of them were resolved without a human."""


class KpiSummary(BaseModel):
    requests: int
    rated: int
    good_share: float | None
    resolved_share: float | None
    by_mode_adapter: list[KpiRow]
    period: Literal["day", "week"] | None = None
    """The trend's period (``GET /v1/kpi?period=day|week``); None when no trend was asked for."""
    group: list[Literal["mode", "adapter", "tenant"]] = Field(default_factory=list)
    """What the trend's points are split by, besides the period."""
    trend: list[KpiPoint] = Field(default_factory=list)
    """One point per period and group, oldest first (periods without requests are left out)."""


# --- health ---------------------------------------------------------------------------------
class HealthResponse(BaseModel):
    """Health with detail (``GET /v1/health``, admin): engine URLs, index statistics, adapters."""

    status: Literal["ok", "degraded"]
    engine: dict[str, Any]
    index: dict[str, Any]
    adapters: list[str]


class ComponentReady(BaseModel):
    ready: bool


class HealthStatus(BaseModel):
    """Unauthenticated ``GET /healthz``: liveness and readiness only, nothing about the data."""

    status: Literal["ok", "degraded"]
    ready: bool
    engine: ComponentReady
    index: ComponentReady


# --- OpenAI-compatible ------------------------------------------------------------------------
class OpenAIContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[OpenAIContentPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = Field(None, max_length=256)

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")

    @model_validator(mode="after")
    def _tool_turns(self) -> OpenAIMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and not (self.json_schema and isinstance(self.json_schema.get("schema"), dict)):
            raise ValueError("response_format json_schema needs json_schema.schema")
        return self


class RagtuneOptions(StrictModel):
    mode: Mode | None = None
    top_k: int | None = Field(None, ge=1, le=50)
    namespace: str | None = Field(None, pattern=NAME_PATTERN)
    style: str | None = Field(None, max_length=2000)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=256)
    messages: list[OpenAIMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    ignore_eos: bool = False
    """vLLM's extension: keep generating past the end-of-sequence token up to max_tokens (benchmarks)."""
    repetition_penalty: float | None = Field(None, ge=1.0, le=2.0)
    """vLLM's extension (default: the gateway's setting; 1.0 turns it off)."""
    n: int | None = Field(None, ge=1, le=8)
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    ragtune: RagtuneOptions | None = None

    @model_validator(mode="after")
    def _ends_with_user(self) -> ChatCompletionRequest:
        if self.messages[-1].role not in ("user", "tool"):
            raise ValueError("the last message must come from the user (or a tool)")
        if not self.messages[-1].text().strip():
            raise ValueError(f"the last {self.messages[-1].role} message is empty")
        return self


class RagtuneExtras(BaseModel):
    """What the OpenAI-compatible responses add under ``ragtune``."""

    id: str
    mode: AnswerMode
    requested_mode: Mode
    adapter: str | None
    refused: bool
    usage: Usage
    latency_ms: Latency
    cost: Cost
    loop_stopped: bool = False
    """The answer looped and was stopped (see ``ChatResponse.loop_stopped``)."""


class PromptTokensDetails(BaseModel):
    cached_tokens: int
    """Prompt tokens the engine served from its prefix cache."""


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    citations: list[Citation]
    ragtune: RagtuneExtras


# --- errors ---------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    type: str
    message: str
    param: str | None = None
    """The request field at fault, where one is (OpenAI's shape)."""
    code: str | None = None
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
