"""Admission control: a cap on in-flight generations per engine, a bounded queue with a deadline,
round-robin between tenants, 503 + Retry-After beyond it, SSE keep-alive comments while waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragtune.settings import AdmissionSettings
from services.engines.base import ChatMessage, GenerationRequest, GenerationResult, StreamDelta
from services.gateway.admission import AdmissionControl, AdmittedEngine, OverloadedError, current_tenant
from services.gateway.errors import install_error_handlers
from services.gateway.keepalive import COMMENT, with_keepalive
from services.gateway.sse import sse_response
from tests.fakes import FakeEngine

pytestmark = pytest.mark.unit


class GatedEngine(FakeEngine):
    """A FakeEngine whose generations wait for ``gate`` and record how many ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.running = 0
        self.most = 0
        self.order: list[str] = []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        self.running += 1
        self.most = max(self.most, self.running)
        self.order.append(request.messages[0].content)
        try:
            await self.gate.wait()
            async for item in super().stream(request):
                yield item
        finally:
            self.running -= 1


def request(text: str) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage(role="user", content=text)], max_tokens=4)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_cap_two_ten_requests_queue_and_refuse() -> None:
    async def scenario() -> tuple[list[object], GatedEngine, dict[str, int]]:
        inner = GatedEngine()
        control = AdmissionControl(AdmissionSettings(max_in_flight=2, max_queue=5, queue_timeout_s=60))
        engine = AdmittedEngine(inner, control)
        tasks = [asyncio.create_task(engine.generate(request(f"q{i}"))) for i in range(10)]
        await settle()
        stats = control.stats("base")
        inner.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True), inner, stats

    results, inner, stats = asyncio.run(scenario())
    assert stats == {"in_flight": 2, "queued": 5}
    refused = [r for r in results if isinstance(r, OverloadedError)]
    answered = [r for r in results if isinstance(r, GenerationResult)]
    assert len(refused) == 3 and len(answered) == 7
    assert inner.most == 2  # never more than the cap at once
    assert all(e.status_code == 503 and e.retry_after_s >= 1 and "queue limit 5" in str(e) for e in refused)
    assert inner.order == [f"q{i}" for i in (0, 1, 2, 3, 4, 5, 6)]  # queued ones in arrival order


def test_queue_deadline_refuses_the_waiters() -> None:
    async def scenario() -> list[object]:
        inner = GatedEngine()
        engine = AdmittedEngine(
            inner, AdmissionControl(AdmissionSettings(max_in_flight=2, max_queue=8, queue_timeout_s=0.05))
        )
        running = [asyncio.create_task(engine.generate(request(f"r{i}"))) for i in range(2)]
        waiting = [asyncio.create_task(engine.generate(request(f"w{i}"))) for i in range(3)]
        late = await asyncio.gather(*waiting, return_exceptions=True)
        inner.gate.set()
        return late + list(await asyncio.gather(*running))

    results = asyncio.run(scenario())
    assert all(isinstance(r, OverloadedError) and "queue_timeout_s" in str(r) for r in results[:3])
    assert all(isinstance(r, GenerationResult) for r in results[3:])


def test_freed_slots_go_to_tenants_in_turn() -> None:
    async def scenario() -> list[str]:
        inner = GatedEngine()
        engine = AdmittedEngine(inner, AdmissionControl(AdmissionSettings(max_in_flight=1, queue_timeout_s=60)))

        async def ask(tenant: str, text: str) -> GenerationResult:
            current_tenant.set(tenant)
            return await engine.generate(request(text))

        tasks = [asyncio.create_task(ask("a", "a0"))]
        await settle()
        tasks += [asyncio.create_task(ask("a", f"a{i}")) for i in range(1, 5)]
        await settle()
        tasks += [asyncio.create_task(ask("b", "b0")), asyncio.create_task(ask("c", "c0"))]
        await settle()
        inner.gate.set()
        await asyncio.gather(*tasks)
        return inner.order

    order = asyncio.run(scenario())
    # a burst of tenant a does not make b and c wait behind all of it
    assert order[:4] == ["a0", "a1", "b0", "c0"]
    assert sorted(order) == ["a0", "a1", "a2", "a3", "a4", "b0", "c0"]


def test_streams_hold_their_slot_until_closed() -> None:
    async def scenario() -> tuple[list[object], dict[str, int]]:
        inner = FakeEngine(adapters=("voice",))
        control = AdmissionControl(AdmissionSettings(max_in_flight=1, max_queue=0))
        engine = AdmittedEngine(inner, control)
        adapter_request = request("hi").model_copy(update={"adapter": "voice"})
        stream = engine.stream(adapter_request)
        first = await anext(stream)
        try:
            await engine.generate(adapter_request)
            second: object = "admitted"
        except OverloadedError as exc:
            second = exc
        base = await engine.generate(request("base"))  # another engine key: its own slots
        await stream.aclose()
        return [first, second, base], control.stats("voice")

    (first, second, base), stats = asyncio.run(scenario())
    assert isinstance(first, StreamDelta)
    assert isinstance(second, OverloadedError)
    assert isinstance(base, GenerationResult)
    assert stats == {"in_flight": 0, "queued": 0}


def test_overloaded_is_a_503_with_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    async def busy() -> None:
        raise OverloadedError("the engine for 'base' is busy", 8)

    response = TestClient(app).get("/busy")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "8"
    assert response.json()["error"]["type"] == "overloaded_error"


async def slow_events() -> AsyncIterator[str]:
    await asyncio.sleep(0.35)
    yield "data: 1\n\n"
    yield "data: 2\n\n"


def test_keepalive_comments_while_a_stream_waits() -> None:
    async def collect() -> list[str]:
        return [item async for item in with_keepalive(slow_events(), 0.1)]

    items = asyncio.run(collect())
    assert items[-2:] == ["data: 1\n\n", "data: 2\n\n"]
    assert items[:-2] and set(items[:-2]) == {COMMENT}


def test_sse_response_sends_keepalive_then_events_then_done() -> None:
    app = FastAPI()

    @app.get("/stream")
    async def stream():
        return sse_response(slow_events(), "req-1", keepalive_s=0.1)

    body = TestClient(app).get("/stream").text
    assert body.startswith(COMMENT)
    assert body.endswith("data: 1\n\ndata: 2\n\ndata: [DONE]\n\n")


def test_keepalive_passes_errors_on() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "data: 1\n\n"
        raise OverloadedError("busy", 1)

    async def collect() -> list[str]:
        return [item async for item in with_keepalive(failing(), 5)]

    with pytest.raises(OverloadedError):
        asyncio.run(collect())
