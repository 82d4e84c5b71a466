"""EnginePool with fake engines: served adapters pre-start as far as max_engines allows (readiness
waits for them), adapters registered later start in the background, and a busy pool makes a new
engine wait instead of going over max_engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engines.base import ChatMessage, EngineError, GenerationRequest, GenerationResult, StreamDelta
from services.engines.pool import EnginePool
from services.engines.supervisor import EngineCrashedError
from tests.fakes import FakeEngine

pytestmark = pytest.mark.unit


class SlowFake(FakeEngine):
    """A merged engine starts when ``gate`` is set; streams wait for ``release``."""

    def __init__(self, name: str, gate: asyncio.Event, release: asyncio.Event) -> None:
        super().__init__(base_model=name)
        self.gate = gate
        self.release = release

    async def start(self) -> None:
        if self.base_model != "base":
            await self.gate.wait()
        await super().start()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        await self.release.wait()
        async for item in super().stream(request):
            yield item


def adapter(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir()
    (path / "adapter_config.json").write_text('{"r": 8}')
    return path


def make_pool(
    tmp_path: Path, names: list[str], gate: asyncio.Event, release: asyncio.Event, **options
) -> tuple[EnginePool, list[str]]:
    started: list[str] = []

    def build(name: str) -> FakeEngine:
        started.append(name)
        return SlowFake(name, gate if name != "base" else asyncio.Event(), release)

    pool = EnginePool(
        base_model="base",
        base=lambda: build("base"),
        base_has_lora=False,
        merged_engine=lambda name, _folder: build(name),
        merge=lambda folder: folder,
        strategy=lambda _name: "merged",
        adapters={n: adapter(tmp_path, n) for n in names},
        monitor_interval_s=3600,
        **options,
    )
    return pool, started


def request(name: str | None) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage(role="user", content="hi")], adapter=name, max_tokens=4)


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def test_prestart_all_as_far_as_max_engines_allows_and_ready_waits(tmp_path: Path) -> None:
    async def scenario() -> None:
        gate, release = asyncio.Event(), asyncio.Event()
        pool, started = make_pool(tmp_path, ["a-m", "b-m", "c-m"], gate, release, max_running=3, prestart=["*"])
        await pool.start()  # the base engine is up; the pre-starts wait at the gate
        await settle()
        health = await pool.health()
        assert not health.ready and "a-m" in (health.detail or "")
        gate.set()
        await asyncio.gather(*pool._prestarting)
        assert (await pool.health()).ready
        assert pool.not_prestarted == ["c-m"]  # max_engines 3 = base + two
        assert started == ["base", "a-m", "b-m"]
        release.set()
        await pool.generate(request("a-m"))  # the first request starts no engine
        assert started == ["base", "a-m", "b-m"]
        await pool.stop()

    asyncio.run(scenario())


def test_adapter_registered_later_starts_in_the_background(tmp_path: Path) -> None:
    async def scenario() -> None:
        gate, release = asyncio.Event(), asyncio.Event()
        gate.set()
        release.set()
        pool, started = make_pool(tmp_path, [], gate, release, max_running=2, start_registered=True)
        await pool.start()
        await pool.load_adapter("late-m", adapter(tmp_path, "late-m"))
        await asyncio.gather(*pool._prestarting)
        assert started == ["base", "late-m"]
        await pool.generate(request("late-m"))
        assert started == ["base", "late-m"]
        await pool.stop()

    asyncio.run(scenario())


def test_a_busy_pool_waits_instead_of_going_over_max_engines(tmp_path: Path) -> None:
    async def scenario() -> None:
        gate, release = asyncio.Event(), asyncio.Event()
        gate.set()
        pool, started = make_pool(tmp_path, ["a-m", "b-m"], gate, release, max_running=2)
        await pool.start()
        busy = asyncio.create_task(pool.generate(request("a-m")))  # base + a-m: the limit
        await settle()
        waiting = asyncio.create_task(pool.generate(request("b-m")))
        await settle()
        running = [e for e in (await pool.health()).engines if e.state in ("ready", "starting")]
        assert len(running) == 2 and not waiting.done() and "b-m" not in started
        release.set()  # a-m finishes and becomes idle: b-m takes its place
        await asyncio.gather(busy, waiting)
        health = await pool.health()
        states = {e.name: e.state for e in health.engines}
        assert states["merged:a-m"] == "stopped" and states["merged:b-m"] == "ready"
        await pool.stop()

    asyncio.run(scenario())


def test_merged_cache_evicts_least_recently_used_unneeded_folders(tmp_path: Path) -> None:
    import os

    from services.engines.merged_models import LAST_USED, evict_lru

    cache = tmp_path / "merged"
    folders = {}
    for age, name in enumerate(["newest", "needed-old", "old", "oldest"]):
        folder = cache / name
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"x" * 1000)
        (folder / LAST_USED).touch()
        stamp = 1_000_000 - age * 1000
        os.utime(folder / LAST_USED, (stamp, stamp))
        folders[name] = folder
    removed = evict_lru(cache, max_bytes=2100, keep=[folders["needed-old"]])
    assert removed == [folders["oldest"], folders["old"]]
    assert sorted(p.name for p in cache.iterdir()) == ["needed-old", "newest"]
    assert evict_lru(cache, max_bytes=2100) == []  # under the limit: nothing more


def test_pool_trims_the_cache_after_a_merge_keeping_registered_adapters(tmp_path: Path) -> None:
    async def scenario() -> list[list[Path]]:
        calls: list[list[Path]] = []
        pool = EnginePool(
            base_model="base",
            base=lambda: FakeEngine(base_model="base"),
            base_has_lora=False,
            merged_engine=lambda name, _folder: FakeEngine(base_model=name),
            merge=lambda folder: folder,
            strategy=lambda _name: "merged",
            monitor_interval_s=3600,
            evict=calls.append,
        )
        await pool.start()
        await pool.load_adapter("a-m", adapter(tmp_path, "a-m"))
        await pool.load_adapter("b-m", adapter(tmp_path, "b-m"))
        await pool.stop()
        return calls

    calls = asyncio.run(scenario())
    assert calls == [[tmp_path / "a-m"], [tmp_path / "a-m", tmp_path / "b-m"]]


class DyingFake(FakeEngine):
    """A merged engine that dies (like a kill -9 of its vLLM child) after its first token while
    ``die`` is set."""

    def __init__(self, name: str, die: list[bool]) -> None:
        super().__init__(base_model=name)
        self.die = die

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        yield StreamDelta(text="Hello ")
        if self.die and self.die.pop():
            self.started = False
            raise EngineError("vLLM exited with status -9 (log: x); last lines:\nTraceback: internals")
        async for item in super().stream(request):
            yield item


def test_a_pooled_engine_dying_mid_stream_ends_it_cleanly_and_restarts(tmp_path: Path) -> None:
    async def scenario() -> None:
        die = [True]
        started: list[str] = []

        def build(name: str) -> FakeEngine:
            started.append(name)
            return DyingFake(name, die)

        pool = EnginePool(
            base_model="base",
            base=lambda: build("base"),
            base_has_lora=False,
            merged_engine=lambda name, _folder: build(name),
            merge=lambda folder: folder,
            strategy=lambda _name: "merged",
            adapters={"a-m": adapter(tmp_path, "a-m")},
            monitor_interval_s=3600,
        )
        await pool.start()
        with pytest.raises(EngineCrashedError) as crashed:
            async for _item in pool.stream(request("a-m")):
                pass
        assert crashed.value.status_code == 503 and "crashed" in str(crashed.value)
        assert "last lines" not in str(crashed.value) and "Traceback" not in str(crashed.value)
        health = {e.name: e for e in (await pool.health()).engines}
        assert health["merged:a-m"].state == "crashed"
        answer = await pool.generate(request("a-m"))  # the next request restarts it
        assert answer.completion_tokens > 0 and started.count("a-m") == 2
        health = {e.name: e for e in (await pool.health()).engines}
        assert health["merged:a-m"].state == "ready" and health["merged:a-m"].restarts == 1
        await pool.stop()

    asyncio.run(scenario())
