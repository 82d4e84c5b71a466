"""OpenAI parameters: honoured or a 400 naming them, never dropped (engine and mode rules)."""

from __future__ import annotations

import pytest

from services.engines.base import OPENAI_OPTIONS
from services.gateway.middleware import request_id_of
from services.gateway.openai_options import (
    InvalidParameterError,
    check_supported,
    conversation,
    requested_options,
)
from services.gateway.schemas import ChatCompletionRequest
from services.modes import Mode
from tests.fakes import FakeEngine

pytestmark = pytest.mark.unit
USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def request(**fields) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": USER, **fields})


class VLLMLike(FakeEngine):
    passthrough = OPENAI_OPTIONS


def test_defaults_are_no_options() -> None:
    assert requested_options(request(n=1, logprobs=False, presence_penalty=0.0, response_format={"type": "text"})) == {}


def test_options_are_collected_verbatim() -> None:
    options = requested_options(
        request(
            response_format={"type": "json_object"},
            tools=[TOOL],
            tool_choice="auto",
            logprobs=True,
            top_logprobs=2,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            logit_bias={"42": -100},
            n=2,
            seed=3,
        )
    )
    assert options == {
        "response_format": {"type": "json_object"},
        "tools": [TOOL],
        "tool_choice": "auto",
        "logprobs": True,
        "top_logprobs": 2,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"42": -100},
        "n": 2,
    }


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 1.0}, "presence_penalty"),
        ({"n": 3}, "n"),
        ({"tools": [TOOL]}, "tools"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}, "response_format"),
    ],
)
def test_an_engine_that_cannot_honour_a_parameter_names_it(fields, param) -> None:
    body = request(**fields)
    with pytest.raises(InvalidParameterError) as caught:
        check_supported(requested_options(body), body, FakeEngine(), Mode.BASE)
    assert caught.value.param == param and caught.value.status_code == 400
    check_supported(requested_options(body), body, VLLMLike(), Mode.BASE)  # vLLM takes it


@pytest.mark.parametrize("mode", [Mode.RAG, Mode.HYBRID, Mode.AUTO])
def test_retrieval_modes_refuse_output_shaping_but_take_penalties(mode) -> None:
    body = request(tools=[TOOL])
    with pytest.raises(InvalidParameterError) as caught:
        check_supported(requested_options(body), body, VLLMLike(), mode)
    assert caught.value.param == "tools"
    body = request(presence_penalty=0.3, logit_bias={"5": 1.0})
    check_supported(requested_options(body), body, VLLMLike(), mode)


def test_tool_turns_and_null_content_are_accepted_and_kept() -> None:
    call = {"id": "call-1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "tools": [TOOL],
            "messages": [
                {"role": "developer", "content": "be brief"},
                *USER,
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call-1", "content": "42"},
            ],
        }
    )
    messages = conversation(body)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2].content == "" and messages[2].tool_calls == [call] and messages[3].tool_call_id == "call-1"
    with pytest.raises(InvalidParameterError) as caught:
        check_supported({}, body, FakeEngine(), Mode.BASE)
    assert caught.value.param == "messages"


def test_invalid_combinations_fail_validation() -> None:
    with pytest.raises(InvalidParameterError):
        requested_options(request(tool_choice="required"))
    with pytest.raises(InvalidParameterError):
        requested_options(request(top_logprobs=3))
    for bad in (
        {"response_format": {"type": "json_schema"}},
        {"n": 0},
        {"presence_penalty": 3},
        {"messages": [{"role": "tool", "content": "x"}]},
    ):
        with pytest.raises(ValueError):
            ChatCompletionRequest.model_validate({"model": "m", "messages": USER, **bad})


def test_a_client_request_id_is_kept_unless_odd() -> None:
    assert request_id_of([(b"X-Request-ID", b"client-7f3a")]) == "client-7f3a"
    assert request_id_of([(b"x-request-id", b"bad id\n")]).startswith("req-")
    assert request_id_of([]).startswith("req-")
