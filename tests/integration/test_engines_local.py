"""The local engine (transformers + peft in process) on the real SmolLM2 base and tiny adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.engines.base import (
    AdapterExistsError,
    AdapterNotFoundError,
    ChatMessage,
    Engine,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

QUESTION = [ChatMessage(role="user", content="Write one sentence about the sea.")]


def _request(adapter: str | None = None, max_tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(messages=QUESTION, adapter=adapter, max_tokens=max_tokens)


async def test_base_chat_counts_tokens_exactly(local_engine) -> None:
    assert isinstance(local_engine, Engine)
    result = await local_engine.generate(_request())
    tokenizer = local_engine.tokenizer
    templated = tokenizer.apply_chat_template(
        [m.model_dump() for m in QUESTION], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    assert result.prompt_tokens == len(templated["input_ids"])
    assert result.text.strip()
    assert 1 <= result.completion_tokens <= 12
    if result.finish_reason == "length":
        assert result.completion_tokens == 12
    assert 0 < result.ttft_ms <= result.total_ms


async def test_adapter_changes_output_and_base_is_unchanged(local_engine) -> None:
    base = await local_engine.generate(_request())
    tuned = await local_engine.generate(_request("tiny"))
    again = await local_engine.generate(_request())
    assert tuned.text != base.text
    assert again.text == base.text  # greedy and the adapter is off again


async def test_stream_yields_deltas_then_one_result(local_engine) -> None:
    events = [e async for e in local_engine.stream(_request("tiny", max_tokens=8))]
    assert isinstance(events[-1], GenerationResult)
    deltas = events[:-1]
    assert deltas and all(isinstance(d, StreamDelta) for d in deltas)
    assert "".join(d.text for d in deltas) == events[-1].text


async def test_runtime_load_duplicate_and_unknown(local_engine, tiny_adapter_2: Path) -> None:
    await local_engine.load_adapter("tiny2", tiny_adapter_2)
    try:
        assert {a.name for a in local_engine.adapters()} >= {"tiny", "tiny2"}
        one = await local_engine.generate(_request("tiny"))
        two = await local_engine.generate(_request("tiny2"))
        assert one.text != two.text
        with pytest.raises(AdapterExistsError):
            await local_engine.load_adapter("tiny2", tiny_adapter_2)
    finally:
        await local_engine.unload_adapter("tiny2")
    assert "tiny2" not in {a.name for a in local_engine.adapters()}
    with pytest.raises(AdapterNotFoundError) as err:
        await local_engine.generate(_request("tiny2"))
    assert err.value.status_code == 404
    with pytest.raises(AdapterNotFoundError):
        await local_engine.unload_adapter("nope")


async def test_full_fine_tuned_model_served_beside_the_base(local_engine, tiny_full_model: Path) -> None:
    await local_engine.load_adapter("tiny-full", tiny_full_model)
    try:
        info = {a.name: a for a in local_engine.adapters()}
        assert info["tiny-full"].strategy == "full" and info["tiny"].strategy == "unmerged"
        full = await local_engine.generate(_request("tiny-full"))
        lora = await local_engine.generate(_request("tiny"))  # the same weights, merged: same answer
        base = await local_engine.generate(_request())
        assert full.text == lora.text != base.text
        assert full.prompt_tokens == base.prompt_tokens
    finally:
        await local_engine.unload_adapter("tiny-full")
    assert (await local_engine.generate(_request("tiny"))).text == lora.text  # LoRA untouched


async def test_bad_adapter_folder_is_a_clear_error(local_engine, tmp_path: Path) -> None:
    with pytest.raises(AdapterNotFoundError, match="adapter_config.json"):
        await local_engine.load_adapter("empty", tmp_path)
    health = await local_engine.health()
    assert health.ready and "empty" not in health.adapters
