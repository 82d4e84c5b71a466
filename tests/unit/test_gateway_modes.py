"""Mode and adapter choice, input limits and request schemas (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ragtune.errors import RagtuneError
from services.engines.base import AdapterInfo
from services.gateway.adapters import AdapterRegistry
from services.gateway.pipeline import AnswerPipeline, Retrieval
from services.gateway.schemas import ChatCompletionRequest, ChatRequest, CompareRequest

pytestmark = pytest.mark.unit


class AdapterList:
    """Just the part of an engine the registry reads: its loaded adapters."""

    def __init__(self, *names: str) -> None:
        self._names = names

    def adapters(self) -> list[AdapterInfo]:
        return [AdapterInfo(name=n, path=f"/adapters/{n}") for n in self._names]


def registry(*names: str) -> AdapterRegistry:
    return AdapterRegistry(AdapterList(*names), Path("/adapters"), confine_paths=False)


def test_auto_mode_uses_documents_when_relevant_and_voice_when_available() -> None:
    found = Retrieval(hits=["h"], relevant=["h"], ms=1.0)
    nothing = Retrieval(hits=["h"], relevant=[], ms=1.0)
    assert AnswerPipeline.choose_auto_mode(found, "voice") == "hybrid"
    assert AnswerPipeline.choose_auto_mode(found, None) == "rag"
    assert AnswerPipeline.choose_auto_mode(nothing, "voice") == "ft"
    assert AnswerPipeline.choose_auto_mode(nothing, None) == "base"


def test_default_adapter_prefers_the_setting_then_the_first_allowed() -> None:
    adapters = registry("zeta", "alpha", "beta")
    assert adapters.names() == ["alpha", "beta", "zeta"]
    assert adapters.default_for(lambda n: True, None) == "alpha"
    assert adapters.default_for(lambda n: True, "zeta") == "zeta"
    assert adapters.default_for(lambda n: n == "beta", "zeta") == "beta"
    assert adapters.default_for(lambda n: False, None) is None
    assert registry().default_for(lambda n: True, None) is None


def test_chat_request_validation() -> None:
    assert ChatRequest(question="q").mode == "auto"
    ChatRequest(messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])
    for bad in (
        {},
        {"question": "q", "messages": [{"role": "user", "content": "q"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"question": "q", "top_k": 0},
        {"question": "q", "adapter": "../x"},
        {"question": "q", "namespace": "a b"},
        {"question": "q", "extra": 1},
    ):
        with pytest.raises(ValidationError):
            ChatRequest(**bad)
    with pytest.raises(ValidationError):
        CompareRequest(question="q", modes=["auto"])


def test_openai_request_accepts_what_the_client_sends() -> None:
    body = ChatCompletionRequest(
        model="m",
        messages=[
            {"role": "developer", "content": "be nice"},
            {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
        ],
        stream=True,
        stream_options={"include_usage": True},
        frequency_penalty=0,
        ragtune={"mode": "rag"},
    )
    assert body.messages[-1].text() == "hi there" and body.ragtune.mode == "rag"
    with pytest.raises(ValidationError):
        ChatCompletionRequest(model="m", messages=[{"role": "assistant", "content": "a"}])
    with pytest.raises(ValidationError):
        ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "q"}], n=9)


def test_no_adapter_error_is_a_user_error() -> None:
    from services.gateway.adapters import no_adapter_error

    error = no_adapter_error("ft")
    assert isinstance(error, RagtuneError) and error.status_code == 400 and "POST /v1/adapters" in str(error)
