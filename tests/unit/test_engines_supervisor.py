"""SupervisedEngine: a crashed engine is restarted; a running stream ends with a clean error, a plain
request meanwhile gets a 503 without the engine's log tail, and the next request is answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engines.base import (
    ChatMessage,
    EngineDescription,
    EngineError,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from services.engines.supervisor import EngineCrashedError, SupervisedEngine
from tests.fakes import FakeEngine

pytestmark = pytest.mark.unit
LOG_TAIL = "last lines:\nTraceback (most recent call last): secret internals"


class CrashingEngine(FakeEngine):
    """A FakeEngine that can die like a killed child process: ``crash()`` mid-stream."""

    def __init__(self) -> None:
        super().__init__(adapters=("voice",))
        self.starts = 0
        self.crash_during_stream = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        self.starts += 1

    def crash(self) -> None:
        self.started = False
        self._adapters.clear()  # a new process knows only what it is started with

    def describe(self) -> EngineDescription:
        return EngineDescription(kind=self.kind, detail=None if self.started else "exited with status -9")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        if not self.started:
            raise EngineError(f"the server exited with status -9; {LOG_TAIL}")
        yield StreamDelta(text="Hello ")
        await self.crash_during_stream.wait()
        self.crash()
        raise EngineError(f"the server exited with status -9; {LOG_TAIL}")


def request() -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage(role="user", content="hi")], max_tokens=4)


def test_crash_mid_stream_clean_error_then_restart_then_answer() -> None:
    async def scenario() -> None:
        inner = CrashingEngine()
        engine = SupervisedEngine(inner, monitor_interval_s=3600)  # the requests notice the crash
        await engine.start()
        await engine.load_adapter("late", Path("/adapters/late"))  # loaded at run time
        stream = engine.stream(request())
        assert isinstance(await anext(stream), StreamDelta)
        inner.crash_during_stream.set()
        with pytest.raises(EngineCrashedError) as crashed:
            await anext(stream)
        assert "crashed during this answer" in str(crashed.value)
        assert "last lines" not in str(crashed.value) and crashed.value.status_code == 503
        await engine.restart()
        assert inner.starts == 2 and engine.restarts == 1 and engine.alive()
        assert {a.name for a in engine.adapters()} >= {"late"}  # restored after the restart
        inner.crash_during_stream.clear()
        answered = engine.stream(request())
        assert isinstance(await anext(answered), StreamDelta)
        await answered.aclose()
        await engine.stop()

    asyncio.run(scenario())


def test_plain_request_while_down_is_a_503_and_starts_the_restart() -> None:
    async def scenario() -> None:
        inner = CrashingEngine()
        engine = SupervisedEngine(inner, monitor_interval_s=3600)
        await engine.start()
        inner.crash()
        with pytest.raises(EngineCrashedError) as down:
            await engine.generate(request())
        assert down.value.retry_after_s >= 1 and "last lines" not in str(down.value)
        assert engine.restarting
        await engine.restart()
        inner.crash_during_stream.set()  # a plain request that completes needs a stream that ends

        async def ends(_request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
            yield GenerationResult(
                text="ok", prompt_tokens=1, completion_tokens=1, finish_reason="stop", ttft_ms=1.0, total_ms=2.0
            )

        inner.stream = ends  # type: ignore[method-assign]
        result = await engine.generate(request())
        assert result.text == "ok" and inner.starts == 2
        await engine.stop()

    asyncio.run(scenario())


def test_monitor_restarts_a_dead_engine_without_any_request() -> None:
    async def scenario() -> None:
        inner = CrashingEngine()
        engine = SupervisedEngine(inner, monitor_interval_s=0.01)
        await engine.start()
        inner.crash()
        for _ in range(200):
            if inner.starts == 2 and engine.alive():
                break
            await asyncio.sleep(0.01)
        assert inner.starts == 2 and engine.alive() and engine.restarts == 1
        await engine.stop()
        assert not inner.started

    asyncio.run(scenario())
