"""OpenAI request parameters beyond plain text: which ones a request sets, whether the engine and
mode can honour them, and the conversation as the engine should see it.

The rule is OpenAI's and vLLM's: a parameter is honoured or the request fails with 400 naming it
(``InvalidParameterError``, ``param`` set), never dropped. Structured output, tools, logprobs, the
penalties, ``logit_bias`` and ``n`` go to vLLM verbatim (``GenerationRequest.options``); the local
transformers engine honours none of them. Retrieval modes (``rag``, ``hybrid``, ``auto``) build their
own prompt and may answer with a refusal that no model generated, so they refuse the parameters
that shape the output itself (format, tools, logprobs, ``n``).
"""

from __future__ import annotations

from typing import Any

from ragtune.errors import RagtuneError
from services.engines.base import ChatMessage, Engine
from services.gateway.schemas import ChatCompletionRequest
from services.modes import Mode

OUTPUT_SHAPING = ("response_format", "tools", "tool_choice", "logprobs", "top_logprobs", "n")
"""Parameters a retrieval mode cannot honour (its answer may be a refusal no model generated)."""


class InvalidParameterError(RagtuneError):
    """A request parameter that this engine or mode cannot honour (400, ``param`` named)."""

    status_code = 400

    def __init__(self, message: str, *, param: str, code: str = "unsupported_parameter") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def requested_options(body: ChatCompletionRequest) -> dict[str, Any]:
    """The parameters of ``OPENAI_OPTIONS`` this request sets to something that changes the output
    (``n=1``, ``logprobs=false``, zero penalties and a ``text`` format are the defaults, so absent)."""
    options: dict[str, Any] = {}
    if body.response_format is not None and body.response_format.type != "text":
        options["response_format"] = body.response_format.model_dump(exclude_none=True)
    if body.tools:
        options["tools"] = body.tools
        if body.tool_choice is not None:
            options["tool_choice"] = body.tool_choice
        if body.parallel_tool_calls is not None:
            options["parallel_tool_calls"] = body.parallel_tool_calls
    elif body.tool_choice not in (None, "none"):
        raise InvalidParameterError("tool_choice needs tools", param="tool_choice", code="invalid_value")
    if body.logprobs:
        options["logprobs"] = True
        if body.top_logprobs:
            options["top_logprobs"] = body.top_logprobs
    elif body.top_logprobs:
        raise InvalidParameterError("top_logprobs needs logprobs: true", param="top_logprobs", code="invalid_value")
    for name in ("presence_penalty", "frequency_penalty"):
        value = getattr(body, name)
        if value:
            options[name] = value
    if body.logit_bias:
        options["logit_bias"] = body.logit_bias
    if body.n is not None and body.n > 1:
        options["n"] = body.n
    return options


def has_tool_turns(body: ChatCompletionRequest) -> bool:
    return any(m.role == "tool" or m.tool_calls for m in body.messages)


def check_supported(options: dict[str, Any], body: ChatCompletionRequest, engine: Engine, mode: Mode) -> None:
    """400 naming the first parameter the engine or the mode cannot honour."""
    passthrough: frozenset[str] = getattr(engine, "passthrough", frozenset())
    for name in options:
        if name not in passthrough:
            raise InvalidParameterError(
                f"{name} is not supported by the '{engine.kind}' engine (vLLM supports it)", param=name
            )
        if mode.uses_retrieval and name in OUTPUT_SHAPING:
            raise InvalidParameterError(
                f"{name} cannot be used in mode '{mode}': it builds its own prompt and may answer with a "
                "refusal; use mode 'base' or 'ft'",
                param=name,
            )
    if has_tool_turns(body):
        if "tools" not in passthrough:
            raise InvalidParameterError(
                f"tool messages are not supported by the '{engine.kind}' engine", param="messages"
            )
        if mode.uses_retrieval:
            raise InvalidParameterError(
                f"tool messages cannot be used in mode '{mode}'; use mode 'base' or 'ft'", param="messages"
            )


def conversation(body: ChatCompletionRequest) -> list[ChatMessage]:
    """Every message as the engine sees it (``developer`` → ``system``, ``null`` content → ``""``),
    tool calls and tool results kept."""
    return [
        ChatMessage(
            role="system" if m.role == "developer" else m.role,
            content=m.text(),
            tool_calls=m.tool_calls,
            tool_call_id=m.tool_call_id,
        )
        for m in body.messages
    ]
