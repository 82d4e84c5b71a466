"""The engine protocol: what the gateway needs from any generation backend.

Two implementations: ``services.engines.vllm_engine.VLLMEngine`` (vLLM's OpenAI-compatible server,
a supervised child process or an external URL) and ``services.engines.local_engine.LocalEngine``
(transformers + peft in process). Both choose the adapter per request, stream text, and report
exact token counts and time to first token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ragtune.errors import RagtuneError
from ragtune.prompts import ChatMessage as ChatMessage  # re-exported: the shared prompt builder defines it


class EngineError(RagtuneError):
    """The engine failed (crashed, timed out, refused); status 503 unless the caller was wrong."""

    status_code = 503


class AdapterNotFoundError(EngineError):
    """A request or unload named an adapter the engine does not have."""

    status_code = 404


class AdapterExistsError(EngineError):
    """An adapter of that name is already loaded (unload it first)."""

    status_code = 409


class EngineRequestError(EngineError):
    """The engine refused the request because of its content (e.g. the prompt is too long)."""

    status_code = 400


OPENAI_OPTIONS = frozenset(
    {
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "n",
    }
)
"""OpenAI request parameters an engine that speaks OpenAI (vLLM) receives verbatim
(``GenerationRequest.options``); an engine lists the ones it honours in ``passthrough``."""


class GenerationRequest(BaseModel):
    """One chat generation. ``adapter`` None means the base model."""

    messages: list[ChatMessage]
    adapter: str | None = None
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: list[str] | None = None
    seed: int | None = None
    ignore_eos: bool = False
    """Generate exactly ``max_tokens`` tokens, past the end-of-sequence token (benchmarks)."""
    repetition_penalty: float = Field(1.0, ge=1.0, le=2.0)
    """Logits of tokens already in the prompt or answer divided (positive) or multiplied (negative)
    by this, the same rule in vLLM and transformers; 1.0 = off."""
    options: dict[str, Any] = Field(default_factory=dict)
    """OpenAI parameters from ``OPENAI_OPTIONS`` (structured output, tools, logprobs, penalties,
    logit_bias, n), passed verbatim to an engine whose ``passthrough`` lists them."""

    @property
    def uses_tools(self) -> bool:
        """Tools offered, or tool turns in the conversation."""
        return bool(self.options.get("tools")) or any(m.role == "tool" or m.tool_calls for m in self.messages)


class ChoiceOutcome(BaseModel):
    """One generated choice beyond text: its function calls and token logprobs (OpenAI shapes)."""

    index: int = 0
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: list[dict[str, Any]] | None = None


class GenerationResult(BaseModel):
    """The finished generation with its exact accounting."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    ttft_ms: float
    """From the engine call's start to the first generated token."""
    total_ms: float
    """From the engine call's start to the last token."""
    cached_tokens: int | None = None
    """Prompt tokens served from the prefix cache (None when the engine does not say)."""
    choices: list[ChoiceOutcome] = Field(default_factory=list)
    """Every choice with its tool calls and logprobs, when the request asked for ``options``
    (choice 0 repeats ``text``); empty for a plain generation."""

    @property
    def generation_ms(self) -> float:
        """Time spent producing tokens after the first one arrived."""
        return max(self.total_ms - self.ttft_ms, 0.0)


class StreamDelta(BaseModel):
    """A piece of generated text; the last event of a stream is a GenerationResult instead."""

    text: str
    index: int = 0
    """The choice it belongs to (``n`` > 1)."""
    tool_calls: list[dict[str, Any]] | None = None
    """Function-call fragments (OpenAI's streamed ``delta.tool_calls``)."""
    logprobs: list[dict[str, Any]] | None = None

    @property
    def plain(self) -> bool:
        """Text of the first choice only (what every non-OpenAI consumer handles)."""
        return self.index == 0 and not self.tool_calls and not self.logprobs


async def collect_result(events: AsyncIterator[StreamDelta | GenerationResult]) -> GenerationResult:
    """Drain a stream and return its closing GenerationResult (how every engine's generate works)."""
    result: GenerationResult | None = None
    async for event in events:
        if isinstance(event, GenerationResult):
            result = event
    if result is None:
        raise EngineError("the engine's stream ended without a result")
    return result


class AdapterInfo(BaseModel):
    name: str
    path: str
    strategy: Literal["unmerged", "merged", "full"] = "unmerged"
    """How the adapter is served: LoRA on the shared engine, merged into its own model, or (a full
    fine-tune) its own model as trained."""
    output_tok_s: float | None = None
    """Measured decode speed of this adapter's answers so far (None until one was served)."""


class EngineStatus(BaseModel):
    """One underlying engine of an engine pool (see ``services.engines.pool``)."""

    name: str
    kind: str
    state: Literal["stopped", "starting", "ready", "crashed"]
    serves: list[str] = Field(default_factory=list)
    """The model names routed to this engine (base name and/or adapter names)."""
    url: str | None = None
    restarts: int = 0
    detail: str | None = None


class EngineDescription(BaseModel):
    """What an engine is, from its own attributes (no I/O): the pool reports it per engine."""

    kind: str
    url: str | None = None
    """Where it listens (None for an in-process engine, or a child not yet listening)."""
    detail: str | None = None
    """Why it is down (e.g. an owned vLLM child's exit status and log), None while it is fine."""


class EngineHealth(BaseModel):
    kind: str
    ready: bool
    base_model: str
    url: str | None = None
    adapters: list[str] = Field(default_factory=list)
    detail: str | None = None
    engines: list[EngineStatus] = Field(default_factory=list)
    """Per-engine state when this engine is a pool; empty for a single engine."""


class EngineBase:
    """What every engine here shares: ``generate`` drains ``stream``; alive and described by its
    kind unless it says more (an owned child process does)."""

    kind: str
    passthrough: frozenset[str] = frozenset()
    """The ``OPENAI_OPTIONS`` this engine honours (the gateway answers 400 for the others)."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        raise NotImplementedError

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return await collect_result(self.stream(request))

    def alive(self) -> bool:
        return True

    def describe(self) -> EngineDescription:
        return EngineDescription(kind=self.kind)


@runtime_checkable
class Engine(Protocol):
    """A generation backend. All methods are safe to call from one asyncio event loop."""

    kind: str
    base_model: str
    """The name requests use for the base model (the served model name)."""

    async def start(self) -> None:
        """Bring the engine up (load weights / start and await the child process)."""

    async def stop(self) -> None:
        """Release everything; idempotent."""

    def alive(self) -> bool:
        """Cheap liveness of a started engine, without I/O (False once an owned child exited)."""
        ...

    def describe(self) -> EngineDescription:
        """Kind, URL and, when it is down, why (no I/O)."""
        ...

    async def health(self) -> EngineHealth:
        """Readiness as the engine itself reports it (may ask the server)."""
        ...

    async def generate(self, request: GenerationRequest) -> GenerationResult: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        """Yield StreamDelta pieces, then exactly one GenerationResult (the full accounting)."""
        ...

    async def load_adapter(self, name: str, path: Path) -> None:
        """Make adapter ``name`` (a peft folder, or a full fine-tuned model folder where the engine can
        serve one) available to requests; loading twice is an error."""

    async def unload_adapter(self, name: str) -> None: ...

    def adapters(self) -> list[AdapterInfo]: ...
