"""Loop detection: the pure detector, and the answer pipeline stopping a looping generation in
every path (streamed or not) with ``finish_reason: stop``, the flag and the metric."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragtune.settings import LoopSettings, Settings
from services.engines.base import GenerationRequest, GenerationResult, StreamDelta
from services.gateway.adapters import AdapterRegistry
from services.gateway.loops import LoopDetector, cut_loop, find_loop
from services.gateway.metrics import GatewayMetrics
from services.gateway.pipeline import AnswerPipeline, AnswerQuery
from services.gateway.schemas import ChatResponse
from services.gateway.tenants import Tenant
from services.modes import Mode
from tests.fakes import FakeEngine, FakeIndex, WordCounter, hit

pytestmark = pytest.mark.unit

NORMAL_ANSWERS = [
    "Hej! A tiled roof lasts about 50 years [1]. Clean the gutters twice a year.\n\nVarma hälsningar, Team Zaragoza",
    # a list whose items share words and structure
    "The warning signs are:\n1. No written contract.\n2. No written quote.\n3. Payment up front.\n"
    "4. No F-tax certificate.\n5. No insurance.\n- Ask for references.\n- Ask for references from clients.",
    # a sign-off written twice, a greeting twice, a short phrase three times
    "Hej! Hej! Yes, we do [1].\n\nVarma hälsningar, Team Zaragoza\nVarma hälsningar, Team Zaragoza",
    "No, no, no: you do not need a bygglov for that [2].",
    # a markdown table: repeated separators and short cells
    "| part | years |\n| --- | --- |\n| roof | 50 |\n| walls | 100 |\n| windows | 30 |",
    "Yes. Yes. Yes. The ceiling is 50,000 SEK per person per year, and the ROT reduction is 30 %.",
]

LOOPING = [
    (
        "The answer is no. If you repaint in the same colour, you need no permit.\n\n" * 4,
        "The answer is no. If you repaint in the same colour, you need no permit.",
    ),
    ("Zaragoza AB — " * 10, "Zaragoza AB —"),
    ("Hej! " * 20, "Hej!"),
    (
        "The invoice model is 100% of the labour bill. The invoice is 20% of the labour bill. "
        "The invoice is 20% of the labour bill. The invoice is 20% of the labour bill. The invoice is 20%",
        "The invoice model is 100% of the labour bill. The invoice is 20% of the labour bill.",
    ),
    (
        "Walls: 50 years.\nRoof: 30 years.\nWalls: 50 years.\nFloor: 20 years.\nWalls: 50 years.\nRoof",
        "Walls: 50 years.\nRoof: 30 years.",
    ),
]


@pytest.mark.parametrize("text", NORMAL_ANSWERS)
def test_a_normal_answer_is_left_unchanged(text: str) -> None:
    assert find_loop(text) is None
    assert cut_loop(text) == (text, None)


@pytest.mark.parametrize(("text", "kept"), LOOPING)
def test_a_looping_answer_is_cut_before_its_second_copy(text: str, kept: str) -> None:
    answer, loop = cut_loop(text)
    assert loop is not None
    assert answer == kept


@pytest.mark.parametrize(("text", "kept"), LOOPING)
def test_streaming_stops_at_the_loop_whatever_the_piece_size(text: str, kept: str) -> None:
    for size in (1, 3, 7, 50):
        detector = LoopDetector()
        fed = 0
        while fed < len(text) and detector.feed(text[fed : fed + size]) is None:
            fed += size
        detector.finish()
        assert detector.loop is not None and detector.answer() == kept


def test_a_half_streamed_word_does_not_complete_a_loop() -> None:
    detector = LoopDetector()
    assert detector.feed("well " * 5 + "wel") is None  # "wel" may become "welcome"
    assert detector.feed("come to Zaragoza.") is None
    assert detector.finish() is None


def test_detection_can_be_switched_off() -> None:
    assert find_loop("Hej! " * 20, LoopSettings(enabled=False)) is None


# --- in the answer pipeline ---------------------------------------------------------------------
TENANT = Tenant(
    name="local", namespace="default", adapters=("*",), rate_limit_per_minute=0, restricted=False, limit_key="local"
)


class EndlessEngine(FakeEngine):
    """Streams ``Zaragoza AB —`` forever: only a consumer that stops can finish."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pieces = 0
        self.closed = False

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        self.requests.append(request)
        try:
            while True:
                self.pieces += 1
                yield StreamDelta(text="Zaragoza AB — ")
                await asyncio.sleep(0)
        finally:
            self.closed = True


def pipeline(tmp_path: Path, engine: FakeEngine, recorded: list[ChatResponse]) -> AnswerPipeline:
    metrics = GatewayMetrics()

    def record(response, plan) -> None:
        recorded.append(response)
        metrics.observe(response, plan.route)

    p = AnswerPipeline(
        settings=Settings(home=tmp_path),
        engine=engine,
        index=FakeIndex([hit(1, "Zaragoza AB renovates roofs.")]),
        counter=WordCounter(),
        adapters=AdapterRegistry(engine, tmp_path / "adapters", confine_paths=False),
        record=record,
    )
    p.metrics = metrics  # type: ignore[attr-defined]
    return p


async def _plan(p: AnswerPipeline, mode: str):
    query = AnswerQuery(question="Who are you?", mode=Mode(mode), namespace="default")
    return await p.plan(query, TENANT, request_id="req", route="chat")


@pytest.mark.parametrize("mode", ["base", "rag", "ft", "hybrid"])
async def test_a_looping_generation_is_stopped_unstreamed(tmp_path: Path, mode: str) -> None:
    engine, recorded = EndlessEngine(adapters=("voice",)), []
    p = pipeline(tmp_path, engine, recorded)
    response = await asyncio.wait_for(p.answer(await _plan(p, mode)), 10)
    assert engine.closed and engine.pieces == 4  # twelve words: the shortest run that counts
    assert (response.answer, response.finish_reason, response.loop_stopped) == ("Zaragoza AB —", "stop", True)
    assert response.usage.completion_tokens == 12  # the words generated up to the stop (fake tokens)
    await asyncio.sleep(0)
    assert recorded == [response]
    assert p.metrics.loops.labels(response.mode, response.adapter or "")._value.get() == 1  # type: ignore[attr-defined]


async def test_a_looping_generation_is_stopped_streamed(tmp_path: Path) -> None:
    engine, recorded = EndlessEngine(adapters=("voice",)), []
    p = pipeline(tmp_path, engine, recorded)

    async def collect() -> list:
        return [item async for item in p.stream(await _plan(p, "hybrid"))]

    items = await asyncio.wait_for(collect(), 10)
    *pieces, response = items
    assert pieces == ["Zaragoza AB — "] * 4 and engine.closed
    assert isinstance(response, ChatResponse)
    assert (response.answer, response.finish_reason, response.loop_stopped) == ("Zaragoza AB —", "stop", True)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_normal_answer_passes_through_unchanged(tmp_path: Path, stream: bool) -> None:
    text = NORMAL_ANSWERS[0]
    engine, recorded = FakeEngine(adapters=("voice",), answers={"voice": text}), []
    p = pipeline(tmp_path, engine, recorded)
    plan = await _plan(p, "hybrid")
    if stream:
        response = [item async for item in p.stream(plan)][-1]
    else:
        response = await p.answer(plan)
    assert (response.answer, response.finish_reason, response.loop_stopped) == (text, "stop", False)
    assert response.usage.completion_tokens == len(text.split())
