"""kill -9 of an owned vLLM child mid-stream: a clean error, a 503 without the log tail while it
restarts, then an answer again. The child requires its own API key (401 without it), which the
engine sends. The test owns its own engine (the shared ``vllm_server`` must not
be killed), and costs two vLLM starts."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from services.engines.base import ChatMessage, GenerationRequest, GenerationResult, StreamDelta

pytestmark = pytest.mark.integration


def test_kill_9_mid_stream_then_restart_then_answer(generator_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    from services.engines.supervisor import EngineCrashedError, SupervisedEngine
    from services.engines.vllm_engine import VLLMEngine
    from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess, new_api_key

    config = VLLMLaunchConfig(
        model_dir=generator_path,
        served_model_name="smollm2-135m-instruct",
        enable_lora=False,
        kv_cache_gib=1,
        max_model_len=1024,
        extra_args=["--enforce-eager"],
        api_key=new_api_key(),  # as the gateway's owned children: the engine sends it, nobody else has it
    )
    process = VLLMProcess(config, tmp_path / "runs", start_timeout_s=420)
    engine = SupervisedEngine(
        VLLMEngine(served_model_name=config.served_model_name, process=process), monitor_interval_s=3600
    )  # the requests notice the crash here
    request = GenerationRequest(
        messages=[ChatMessage(role="user", content="Count to one hundred.")], max_tokens=200, ignore_eos=True
    )

    async def scenario() -> None:
        await engine.start()
        try:
            async with httpx.AsyncClient(base_url=process.url) as client:
                assert (await client.get("/v1/models")).status_code == 401
                wrong = await client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
                assert wrong.status_code == 401
                assert (await client.get("/health")).status_code == 200
            stream = engine.stream(request)
            assert isinstance(await anext(stream), StreamDelta)
            assert process.pid is not None
            os.killpg(process.pid, signal.SIGKILL)
            with pytest.raises(EngineCrashedError) as crashed:
                async for _item in stream:
                    pass
            assert "crashed" in str(crashed.value) and "last lines" not in str(crashed.value)
            with pytest.raises(EngineCrashedError) as down:  # while it restarts
                await engine.generate(request)
            assert down.value.status_code == 503 and "last lines" not in str(down.value)
            await engine.restart()
            result = await engine.generate(request.model_copy(update={"max_tokens": 8, "ignore_eos": False}))
            assert isinstance(result, GenerationResult) and result.completion_tokens > 0
            assert engine.restarts == 1
        finally:
            await engine.stop()

    asyncio.run(scenario())
