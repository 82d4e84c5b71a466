"""``ragtune serve``'s ready line: it waits for the pre-started engines, then names, one line each,
the adapters whose engine it could not pre-start (no room under max_engines, a failed start, an
unknown name in engine.prestart), so that after "ready" a served adapter's first request starts no
engine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.engines.base import ChatMessage, EngineError, GenerationRequest
from services.engines.pool import EnginePool
from services.gateway.readiness import not_prestarted, ready_lines, waiting_line
from tests.fakes import FakeEngine

pytestmark = pytest.mark.unit


class GatedFake(FakeEngine):
    """Starts when ``gate`` is set; ``broken-m`` never starts."""

    def __init__(self, name: str, gate: asyncio.Event) -> None:
        super().__init__(base_model=name)
        self.gate = gate

    async def start(self) -> None:
        if self.base_model != "base":
            await self.gate.wait()
        if self.base_model == "broken-m":
            raise EngineError("vLLM exited with status 1\nlast lines: ...")
        await super().start()


def make_pool(tmp_path: Path, names: list[str], gate: asyncio.Event, **options) -> tuple[EnginePool, list[str]]:
    started: list[str] = []

    def build(name: str) -> FakeEngine:
        started.append(name)
        return GatedFake(name, gate)

    def folder(name: str) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text('{"r": 8}')
        return tmp_path / name

    pool = EnginePool(
        base_model="base",
        base=lambda: build("base"),
        base_has_lora=False,
        merged_engine=lambda name, _folder: build(name),
        merge=lambda path: path,
        strategy=lambda _name: "merged",
        adapters={n: folder(n) for n in names},
        monitor_interval_s=3600,
        **options,
    )
    return pool, started


def test_ready_waits_for_prestarts_and_names_what_did_not_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        pool, started = make_pool(tmp_path, ["a-m", "broken-m", "c-m"], gate, max_running=3, prestart=["ghost", "*"])
        await pool.start()
        waiting = asyncio.create_task(not_prestarted(pool))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the ready line waits for the engines being pre-started
        assert "a-m" in (waiting_line("http://x", pool) or "")
        gate.set()
        missing = await waiting
        assert set(missing) == {"broken-m", "c-m", "ghost"}
        assert "max_engines=3" in missing["c-m"]
        assert "failed to start (vLLM exited with status 1)" in missing["broken-m"]
        assert missing["ghost"] == "no such adapter"
        assert waiting_line("http://x", pool) is None

        state = SimpleNamespace(
            engine=pool,
            adapters=SimpleNamespace(names=lambda: ["a-m", "broken-m", "c-m"]),
            index=SimpleNamespace(store=object(), error=None),
        )
        lines = ready_lines("http://127.0.0.1:8000", state, missing)  # type: ignore[arg-type]
        assert "gateway ready" in lines[0] and "3 adapter engine(s) not pre-started" in lines[0]
        assert len(lines) == 4 and all("\n" not in line for line in lines)
        assert [line.split("[/] ")[1].split(":")[0] for line in lines[1:]] == ["broken-m", "c-m", "ghost"]

        before = list(started)
        request = GenerationRequest(messages=[ChatMessage(role="user", content="hi")], adapter="a-m", max_tokens=4)
        await pool.generate(request)  # after ready: the first request starts no engine
        assert started == before
        await pool.stop()

    asyncio.run(scenario())


def test_engines_without_prestarts_are_ready_at_once() -> None:
    engine = FakeEngine()
    assert asyncio.run(not_prestarted(engine)) == {}
    assert waiting_line("http://x", engine) is None  # type: ignore[arg-type]
