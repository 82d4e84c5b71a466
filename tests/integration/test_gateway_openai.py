"""The official ``openai`` client against the gateway over the real vLLM engine (the shared
``vllm_server``): structured output parsed into a pydantic model, tool calls, logprobs and ``n``,
streaming with usage and cached tokens, OpenAI-shaped 400s naming the parameter, a kept request id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel

pytestmark = pytest.mark.integration
KEY = "key-openai"
QUESTION = "How long does an energy declaration remain valid?"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
        },
    },
}


class Verdict(BaseModel):
    answer: Literal["yes", "no"]
    sure: bool


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, request: pytest.FixtureRequest):
    pytest.importorskip("openai")
    from indexer import DocumentStore
    from indexer.sample import build_sample_corpus
    from ragtune.settings import IndexSettings, Settings
    from services.engines.factory import vllm_available
    from services.gateway.server import BackgroundGateway

    if not vllm_available():
        pytest.skip("vLLM is not installed here")
    server = request.getfixturevalue("vllm_server")
    home = tmp_path_factory.mktemp("openai-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    corpus = [p for p in build_sample_corpus(tmp_path_factory.mktemp("corpus")) if p.name == "energideklaration.md"]
    with DocumentStore.open(home / "index", models_dir / "all-minilm-l6-v2", IndexSettings()) as store:
        store.add_paths(corpus, namespace="default")
    settings = Settings(
        home=home,
        engine={"kind": "vllm", "url": server.url},
        gateway={"max_tokens_limit": 256, "api_keys": {KEY: {"name": "o", "namespace": "default", "roles": ["admin"]}}},
    )
    with BackgroundGateway(settings) as running:
        yield running


@pytest.fixture(scope="module")
def api(gateway):
    from openai import OpenAI

    return OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def model(api) -> str:
    return api.models.list().data[0].id


def test_structured_output_parses_into_a_pydantic_model(api, model) -> None:
    parsed = api.chat.completions.parse(
        model=model,
        response_format=Verdict,
        max_tokens=40,
        temperature=0,
        messages=[{"role": "user", "content": "Is Stockholm in Sweden? Answer as JSON."}],
    )
    verdict = parsed.choices[0].message.parsed
    assert isinstance(verdict, Verdict)
    loose = api.chat.completions.create(
        model=model,
        response_format={"type": "json_object"},
        max_tokens=48,
        temperature=0,
        messages=[{"role": "user", "content": "Give a JSON object with the key city set to Rome."}],
    )
    assert loose.choices[0].message.content.lstrip().startswith("{")


def test_tool_calls_and_tool_turns(api, model) -> None:
    first = api.chat.completions.create(
        model=model,
        tools=[WEATHER],
        max_tokens=48,
        temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "What is the weather in Rome?"}],
    )
    message = first.choices[0].message
    call = message.tool_calls[0]
    # the arguments are what vLLM's guided decoding produced (this tiny model's are poor): valid JSON
    assert call.function.name == "get_weather" and call.id and json.loads(call.function.arguments) is not None
    second = api.chat.completions.create(
        model=model,
        tools=[WEATHER],
        max_tokens=16,
        temperature=0,
        messages=[
            {"role": "user", "content": "What is the weather in Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 degrees."},
        ],
    )
    assert second.choices[0].message.content
    assert second.usage.prompt_tokens > first.usage.prompt_tokens - 40  # the tool turns reached the model


def test_streaming_with_usage_and_cached_tokens(api, model) -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant. " * 20},
        {"role": "user", "content": "Say hello."},
    ]
    for _ in range(2):  # the second run finds the long system prompt in vLLM's prefix cache
        chunks = list(
            api.chat.completions.create(
                model=model, messages=messages, max_tokens=8, stream=True, stream_options={"include_usage": True}
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage.completion_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens > 0


def test_logprobs_n_penalties_bias_and_seed(api, model) -> None:
    many = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Name a colour."}],
        n=2,
        temperature=1.0,
        seed=7,
        max_tokens=6,
        logprobs=True,
        top_logprobs=2,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        logit_bias={"0": -100},
    )
    assert [c.index for c in many.choices] == [0, 1]
    for choice in many.choices:
        assert choice.logprobs.content and len(choice.logprobs.content[0].top_logprobs) == 2
    again = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Name a colour."}],
        n=2,
        temperature=1.0,
        seed=7,
        max_tokens=6,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        logit_bias={"0": -100},
    )
    assert [c.message.content for c in again.choices] == [c.message.content for c in many.choices]
    streamed = list(
        api.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Hi"}],
            n=2,
            max_tokens=4,
            stream=True,
            temperature=1.0,
            seed=1,
        )
    )
    assert {c.choices[0].index for c in streamed if c.choices} == {0, 1}


def test_unhonourable_parameters_are_400_naming_them(api, model, gateway) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": QUESTION}],
            tools=[WEATHER],
            extra_body={"ragtune": {"mode": "rag"}},
        )
    assert caught.value.param == "tools" and caught.value.code == "unsupported_parameter"
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": model, "n": 0, "messages": [{"role": "user", "content": "hi"}]},
    )
    error = response.json()["error"]
    assert response.status_code == 400 and error["type"] == "invalid_request_error" and error["param"] == "n"
    assert set(error) >= {"type", "message", "param", "code"}
    missing = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_a_client_request_id_is_kept(api, model, gateway) -> None:
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}", "X-Request-ID": "client-trace-42"},
        json={"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == "client-trace-42"
    assert response.json()["id"] == "client-trace-42"


def test_cli_search_asks_the_running_gateway_without_torch(gateway, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    response = httpx.get(
        gateway.url + "/v1/search", params={"q": QUESTION, "k": 2}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200 and response.json()["results"][0]["source"].endswith("energideklaration.md")
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(tmp_path / "empty-home"),
        "RAGTUNE_URL": gateway.url,
        "RAGTUNE_API_KEY": KEY,
    }
    code = (
        "import runpy, sys; sys.argv = ['ragtune', 'index', 'search', sys.argv[1], '--json', '-k', '2']\n"
        "try:\n    runpy.run_module('ragtune.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"
    )
    done = subprocess.run([sys.executable, "-c", code, QUESTION], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    body, marker = done.stdout.rsplit("\n", 2)[0], done.stdout.strip().splitlines()[-1]
    assert json.loads(body)["results"][0]["source"].endswith("energideklaration.md")  # the gateway's index
    assert marker == "NO-TORCH"
