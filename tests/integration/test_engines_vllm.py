"""The vLLM engine against one real vLLM CPU server (the session fixture ``vllm_server``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from services.engines.base import (
    AdapterExistsError,
    AdapterNotFoundError,
    ChatMessage,
    Engine,
    EngineError,
    EngineRequestError,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

QUESTION = [ChatMessage(role="user", content="Write one sentence about the sea.")]


def _request(adapter: str | None = None, max_tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(messages=QUESTION, adapter=adapter, max_tokens=max_tokens)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def vllm_engine(vllm_server, tiny_adapter: Path):
    """A VLLMEngine in external mode against the shared server, registering ``tiny-v`` at start."""
    from services.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(
        served_model_name=vllm_server.served_model_name, url=vllm_server.url, adapters={"tiny-v": tiny_adapter}
    )
    await engine.start()
    yield engine
    await engine.stop()


async def test_base_chat_counts_tokens_like_the_tokenizer(vllm_engine, generator_path: Path) -> None:
    from transformers import AutoTokenizer

    assert isinstance(vllm_engine, Engine)
    tokenizer = AutoTokenizer.from_pretrained(generator_path)
    result = await vllm_engine.generate(_request(max_tokens=8))
    templated = tokenizer.apply_chat_template(
        [m.model_dump() for m in QUESTION], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    assert result.prompt_tokens == len(templated["input_ids"])
    assert result.text.strip()
    assert result.finish_reason == "length" and result.completion_tokens == 8
    assert 0 < result.ttft_ms <= result.total_ms
    health = await vllm_engine.health()
    assert health.ready and "tiny-v" in health.adapters


async def test_adapter_changes_output(vllm_engine) -> None:
    base = await vllm_engine.generate(_request())
    tuned = await vllm_engine.generate(_request("tiny-v"))
    assert tuned.text.strip() and tuned.text != base.text


async def test_same_greedy_answer_as_the_local_engine(vllm_engine, local_engine) -> None:
    """Both engines run the same weights: the greedy base answers agree on their first words."""
    remote = await vllm_engine.generate(_request(max_tokens=6))
    local = await local_engine.generate(_request(max_tokens=6))
    assert remote.prompt_tokens == local.prompt_tokens
    assert remote.text.split()[:3] == local.text.split()[:3]


async def test_repetition_penalty_reaches_both_engines_alike(vllm_engine, local_engine) -> None:
    penalised = _request(max_tokens=24).model_copy(update={"repetition_penalty": 2.0})
    plain = await vllm_engine.generate(_request(max_tokens=24))
    remote = await vllm_engine.generate(penalised)
    local = await local_engine.generate(penalised)
    assert remote.text != plain.text
    assert remote.text.split()[:3] == local.text.split()[:3]


async def test_stream_yields_deltas_then_one_result(vllm_engine) -> None:
    events = [e async for e in vllm_engine.stream(_request("tiny-v", max_tokens=8))]
    assert isinstance(events[-1], GenerationResult)
    assert events[:-1] and all(isinstance(e, StreamDelta) for e in events[:-1])
    assert "".join(e.text for e in events[:-1]) == events[-1].text
    assert events[-1].completion_tokens == 8


async def test_runtime_load_duplicate_unknown_and_unload(vllm_engine, tiny_adapter: Path, tiny_adapter_2: Path) -> None:
    await vllm_engine.load_adapter("tiny-v2", tiny_adapter_2)
    one = await vllm_engine.generate(_request("tiny-v"))
    two = await vllm_engine.generate(_request("tiny-v2"))
    assert two.text.strip() and two.text != one.text
    with pytest.raises(AdapterExistsError) as exists:
        await vllm_engine.load_adapter("tiny-v2", tiny_adapter)
    assert exists.value.status_code == 409
    await vllm_engine.unload_adapter("tiny-v2")
    with pytest.raises(AdapterNotFoundError) as unknown:
        await vllm_engine.generate(_request("tiny-v2"))
    assert unknown.value.status_code == 404
    with pytest.raises(AdapterNotFoundError):
        await vllm_engine.load_adapter("missing", Path("/nonexistent/adapter"))


async def test_full_model_on_a_lora_server_is_a_clear_4xx(vllm_engine, tiny_full_model: Path) -> None:
    with pytest.raises(EngineRequestError, match="fully fine-tuned model") as err:
        await vllm_engine.load_adapter("tiny-full-v", tiny_full_model)
    assert err.value.status_code == 400
    assert "tiny-full-v" not in {a.name for a in vllm_engine.adapters()}


async def test_external_url_that_serves_nothing_is_a_clear_error() -> None:
    from services.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(served_model_name="x", url="http://127.0.0.1:9")
    with pytest.raises(EngineError, match="unreachable"):
        await engine.start()
    await engine.stop()
