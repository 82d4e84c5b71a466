"""The engine pool over in-process engines (transformers + peft, fp32): merged and unmerged
adapters give the same greedy answer, routing, lazy start and the running-engine limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from services.engines.base import AdapterExistsError, ChatMessage, GenerationRequest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

QUESTION = [ChatMessage(role="user", content="Write one sentence about the sea.")]
BASE = "smollm2-135m-instruct"


def _request(adapter: str | None, max_tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(messages=QUESTION, adapter=adapter, max_tokens=max_tokens)


def _make_local_pool(generator_path: Path, tiny_adapter: Path, tmp_path: Path, **options):
    """A pool of in-process engines: ``tiny-u`` on the base engine, ``*-m`` adapters merged."""
    from services.engines.local_engine import LocalEngine
    from services.engines.merged_models import merged_model_dir
    from services.engines.pool import EnginePool

    return EnginePool(
        base_model=BASE,
        base=lambda: LocalEngine(model_dir=generator_path, served_model_name=BASE, adapters={"tiny-u": tiny_adapter}),
        base_has_lora=True,
        merged_engine=lambda name, folder: LocalEngine(model_dir=folder, served_model_name=name),
        merge=lambda adapter_dir: merged_model_dir(generator_path, adapter_dir, tmp_path / "merged"),
        strategy=lambda name: "unmerged" if name.endswith("-u") else "merged",
        **options,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def local_pool(generator_path: Path, tiny_adapter: Path, tmp_path: Path):
    pool = _make_local_pool(generator_path, tiny_adapter, tmp_path, adapters={"tiny-u": tiny_adapter}, max_running=2)
    await pool.start()
    yield pool
    await pool.stop()


def _state(health, name: str) -> str:
    return next(e.state for e in health.engines if e.name == name)


async def test_merged_equals_unmerged_and_starts_lazily(local_pool, tiny_adapter: Path) -> None:
    await local_pool.load_adapter("tiny-m", tiny_adapter)
    assert _state(await local_pool.health(), "merged:tiny-m") == "stopped"
    merged = await local_pool.generate(_request("tiny-m"))
    assert _state(await local_pool.health(), "merged:tiny-m") == "ready"
    unmerged = await local_pool.generate(_request("tiny-u"))
    base = await local_pool.generate(_request(None))
    assert merged.text == unmerged.text != base.text
    assert merged.prompt_tokens == unmerged.prompt_tokens
    assert merged.completion_tokens == unmerged.completion_tokens
    with pytest.raises(AdapterExistsError):
        await local_pool.load_adapter("tiny-m", tiny_adapter)


async def test_running_engine_limit_stops_the_least_recently_used(
    local_pool, tiny_adapter: Path, tiny_adapter_2: Path
) -> None:
    await local_pool.load_adapter("one-m", tiny_adapter)
    await local_pool.load_adapter("two-m", tiny_adapter_2)
    first = await local_pool.generate(_request("one-m", max_tokens=4))
    await local_pool.generate(_request("two-m", max_tokens=4))  # limit 2: base + two-m
    health = await local_pool.health()
    assert _state(health, "merged:one-m") == "stopped" and _state(health, "merged:two-m") == "ready"
    again = await local_pool.generate(_request("one-m", max_tokens=4))  # waits for a fresh start
    assert again.text == first.text
    health = await local_pool.health()
    assert _state(health, "merged:one-m") == "ready" and _state(health, "merged:two-m") == "stopped"
    assert next(e.restarts for e in health.engines if e.name == "merged:one-m") == 1
    assert {a.name: a.strategy for a in local_pool.adapters()} == {
        "one-m": "merged",
        "two-m": "merged",
        "tiny-u": "unmerged",
    }


async def test_runtime_unmerged_adapter_goes_to_the_base_engine(local_pool, tiny_adapter_2: Path) -> None:
    await local_pool.load_adapter("two-u", tiny_adapter_2)
    health = await local_pool.health()
    base_status = next(e for e in health.engines if e.name == "base")
    assert "two-u" in base_status.serves
    result = await local_pool.generate(_request("two-u", max_tokens=4))
    assert result.completion_tokens >= 1
    await local_pool.unload_adapter("two-u")
    assert "two-u" not in (await local_pool.health()).adapters


async def test_prestart_starts_a_merged_engine_before_any_request(
    generator_path: Path, tiny_adapter: Path, tmp_path: Path
) -> None:
    import asyncio

    pool = _make_local_pool(
        generator_path,
        tiny_adapter,
        tmp_path,
        adapters={"tiny-u": tiny_adapter, "tiny-m": tiny_adapter},
        prestart=["tiny-m", "tiny-u", "no-such-adapter"],
    )  # base / unknown: nothing to do
    await pool.start()
    try:
        for _ in range(600):  # in the background: start() returned before the merged engine is up
            if _state(await pool.health(), "merged:tiny-m") == "ready":
                break
            await asyncio.sleep(0.1)
        assert _state(await pool.health(), "merged:tiny-m") == "ready"
        assert (await pool.generate(_request("tiny-m"))).completion_tokens > 0
    finally:
        await pool.stop()
    assert _state(await pool.health(), "merged:tiny-m") == "stopped"
