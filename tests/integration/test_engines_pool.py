"""The engine pool with real vLLM engines: merged vs unmerged adapters, routing, lazy start, crash
restart. The base engine is the shared ``vllm_server`` (LoRA enabled, serves the unmerged adapter);
the merged adapter gets its own vLLM child started on first use."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import pytest_asyncio

from services.engines.base import AdapterNotFoundError, ChatMessage, GenerationRequest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

QUESTION = [ChatMessage(role="user", content="Write one sentence about the sea.")]
COMPARED_TOKENS = 4
"""Greedy answers of the merged and the unmerged adapter must agree on their first words: vLLM on
CPU computes in bf16, where LoRA-then-add and pre-merged weights round differently, so long
continuations may diverge after a near-tie."""


def _request(adapter: str | None, max_tokens: int = 12) -> GenerationRequest:
    return GenerationRequest(messages=QUESTION, adapter=adapter, max_tokens=max_tokens)


@pytest.fixture(scope="module")
def carded_adapter(tiny_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_adapter`` with a minimal ragtune card, to see the pool record how it serves it."""
    from training.adapter_folder import CARD_FILE
    from training.adapters import AdapterCard

    folder = tmp_path_factory.mktemp("carded") / "tiny-m"
    shutil.copytree(tiny_adapter, folder)
    card = AdapterCard(
        name="tiny-m",
        path=str(folder),
        base_model="smollm2-135m-instruct",
        method="lora",
        data_sha256="test",
        train_examples=0,
        eval_examples=0,
    )
    (folder / CARD_FILE).write_text(card.model_dump_json())
    return folder


def _make_pool(
    vllm_server,
    generator_path: Path,
    cache: Path,
    runs: Path,
    adapters: dict[str, Path],
    launched: list | None = None,
    **options,
):
    """A pool on the shared base server whose merged engines are eager vLLM children (``launched``
    collects their processes)."""
    from services.engines.merged_models import merged_model_dir
    from services.engines.pool import EnginePool
    from services.engines.vllm_engine import VLLMEngine
    from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

    def merged_engine(name: str, folder: Path) -> VLLMEngine:
        # eager: a compiled start takes minutes on a busy 2-core machine (settings.engine.compile)
        config = VLLMLaunchConfig(
            model_dir=folder,
            served_model_name=name,
            enable_lora=False,
            kv_cache_gib=1,
            max_model_len=2048,
            extra_args=["--enforce-eager"],
        )
        process = VLLMProcess(config, runs, start_timeout_s=600)
        if launched is not None:
            launched.append(process)
        return VLLMEngine(served_model_name=name, process=process)

    return EnginePool(
        base_model=vllm_server.served_model_name,
        base=lambda: VLLMEngine(served_model_name=vllm_server.served_model_name, url=vllm_server.url),
        base_has_lora=True,
        merged_engine=merged_engine,
        merge=lambda adapter_dir: merged_model_dir(generator_path, adapter_dir, cache),
        strategy=lambda name: "unmerged" if name == "tiny-u" else "merged",
        adapters=adapters,
        **options,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(vllm_server, generator_path: Path, tiny_adapter: Path, tmp_path_factory: pytest.TempPathFactory):
    engine = _make_pool(
        vllm_server,
        generator_path,
        tmp_path_factory.mktemp("merged-cache"),
        tmp_path_factory.mktemp("pool-runs"),
        {"tiny-u": tiny_adapter},
        max_running=3,
        monitor_interval_s=0.5,
    )
    await engine.start()
    yield engine
    await engine.stop()


def _status(health, name: str):
    return next(e for e in health.engines if e.name == name)


async def test_merged_adapter_starts_lazily_and_matches_unmerged(pool, carded_adapter: Path) -> None:
    await pool.load_adapter("tiny-m", carded_adapter)
    assert pool.strategy_of("tiny-m") == "merged" and pool.strategy_of("tiny-u") == "unmerged"
    health = await pool.health()
    assert _status(health, "merged:tiny-m").state == "stopped"  # nothing started yet
    assert {"tiny-m", "tiny-u"} <= set(health.adapters)

    merged = await pool.generate(_request("tiny-m"))  # waits for the engine to start
    assert _status(await pool.health(), "merged:tiny-m").state == "ready"
    unmerged = await pool.generate(_request("tiny-u"))
    base = await pool.generate(_request(None))
    assert merged.prompt_tokens == unmerged.prompt_tokens == base.prompt_tokens
    assert merged.text.split()[:COMPARED_TOKENS] == unmerged.text.split()[:COMPARED_TOKENS]
    assert merged.text != base.text

    card = json.loads((carded_adapter / "adapter_card.json").read_text())
    assert card["serving"]["strategy"] == "merged"
    assert card["serving"]["requests"] >= 1 and card["serving"]["output_tok_s"] > 0
    info = {a.name: a for a in pool.adapters()}
    assert info["tiny-m"].strategy == "merged" and info["tiny-m"].output_tok_s > 0
    assert Path(card["serving"]["merged_model_dir"], "config.json").is_file()


async def test_routing_by_adapter_name(pool) -> None:
    health = await pool.health()
    assert _status(health, "base").serves[0] == pool.base_model
    assert "tiny-u" in _status(health, "base").serves
    assert _status(health, "merged:tiny-m").serves == ["tiny-m"]
    with pytest.raises(AdapterNotFoundError):
        await pool.generate(_request("no-such-adapter"))
    named_base = await pool.generate(_request(pool.base_model, max_tokens=4))
    assert named_base.completion_tokens >= 1


async def test_full_fine_tuned_model_gets_its_own_engine(pool, tiny_full_model: Path) -> None:
    await pool.load_adapter("tiny-f", tiny_full_model)
    try:
        assert pool.strategy_of("tiny-f") == "full"
        assert _status(await pool.health(), "model:tiny-f").state == "stopped"
        full = await pool.generate(_request("tiny-f"))  # lazily started, nothing merged
        merged = await pool.generate(_request("tiny-m"))  # the same weights via merging
        assert full.text.split()[:COMPARED_TOKENS] == merged.text.split()[:COMPARED_TOKENS]
        assert _status(await pool.health(), "model:tiny-f").serves == ["tiny-f"]
    finally:
        await pool.unload_adapter("tiny-f")
    assert all(e.name != "model:tiny-f" for e in (await pool.health()).engines)


async def test_a_crashed_engine_is_reported_and_restarted(pool) -> None:
    """kill -9 of a pooled vLLM engine mid-stream: a clean error, then the next request restarts it."""
    from services.engines.base import StreamDelta
    from services.engines.supervisor import EngineCrashedError

    await pool.generate(_request("tiny-m", max_tokens=2))  # make sure it runs
    process = pool.engine_for("tiny-m").process
    long = GenerationRequest(
        messages=[ChatMessage(role="user", content="Count to one hundred.")],
        adapter="tiny-m",
        max_tokens=200,
        ignore_eos=True,
    )
    stream = pool.stream(long)
    assert isinstance(await anext(stream), StreamDelta)
    os.killpg(process.pid, signal.SIGKILL)
    with pytest.raises(EngineCrashedError) as crashed:
        async for _item in stream:
            pass
    assert crashed.value.status_code == 503 and "last lines" not in str(crashed.value)
    while process.returncode is None:
        await asyncio.sleep(0.1)
    status = _status(await pool.health(), "merged:tiny-m")
    assert status.state == "crashed" and "exited with status" in status.detail

    again = await pool.generate(_request("tiny-m", max_tokens=4))
    assert again.completion_tokens >= 1
    status = _status(await pool.health(), "merged:tiny-m")
    assert status.state == "ready" and status.restarts == 1


async def test_unload_stops_the_merged_engine(pool) -> None:
    await pool.unload_adapter("tiny-m")
    health = await pool.health()
    assert "tiny-m" not in health.adapters
    assert all(e.name != "merged:tiny-m" for e in health.engines)
    with pytest.raises(AdapterNotFoundError):
        await pool.generate(_request("tiny-m"))


async def test_stopping_during_a_prestart_leaves_no_vllm_child(
    vllm_server, generator_path: Path, tiny_adapter: Path, tmp_path: Path
) -> None:
    launched: list = []
    engine = _make_pool(
        vllm_server,
        generator_path,
        tmp_path / "merged",
        tmp_path / "runs",
        {"tiny-m": tiny_adapter},
        launched,
        prestart=["tiny-m"],
    )
    await engine.start()  # merges tiny-m, then starts its engine in the background
    for _ in range(300):
        if launched and launched[0].pid is not None:
            break
        await asyncio.sleep(0.1)
    assert launched and launched[0].pid is not None, "the pre-start did not launch a vLLM child"
    await engine.stop()  # long before that child is ready
    assert launched[0].returncode is not None
