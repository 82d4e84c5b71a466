"""An engine pool: several engines behind the one Engine protocol, routed by adapter name.

Per adapter, a serving strategy:

* ``unmerged`` — LoRA on the shared *base* engine (many adapters, one process; the right choice on
  GPU). The base engine has ``--enable-lora`` only when at least one adapter is served this way,
  since LoRA support slows base requests on CPU.
* ``merged`` — the adapter merged into a full model folder once (cached by content hash) and served
  by its own engine as a plain model (full speed on CPU). That engine starts lazily on the first
  request for the adapter, which waits for it.
* ``full`` — a fully fine-tuned model (``ragtune train --method full``) in the adapters folder is
  served like a merged adapter, by its own lazily started engine, without merging.

Adapters named in ``prestart`` (setting ``engine.prestart``; ``ragtune demo`` names its sample
adapter) have their own engine started in the background right after the base engine, so their
first request does not wait for it.

The pool health-checks its engines (a background monitor marks a crashed one and restarts the
base engine; a crashed lazy engine restarts on its next request, and a request that hits a crash
before any output is retried once), keeps at most ``max_running`` engines up (stopping the least
recently used idle merged engine to make room), records each adapter's measured speed, and writes
the strategy and speed into the adapter card's ``serving`` field when the adapter has a card.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.engines.base import (
    OPENAI_OPTIONS,
    AdapterExistsError,
    AdapterInfo,
    AdapterNotFoundError,
    Engine,
    EngineBase,
    EngineDescription,
    EngineError,
    EngineHealth,
    EngineRequestError,
    EngineStatus,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from services.engines.supervisor import EngineCrashedError
from training import adapter_folder

log = logging.getLogger(__name__)

Strategy = Literal["unmerged", "merged", "full"]
MemberState = Literal["stopped", "starting", "ready", "crashed"]
MEMBER_KIND = "vllm"
MAX_ROOM_WAIT_S = 600.0
"""Longest wait for an idle engine when every one of ``max_engines`` is busy."""
ROOM_POLL_S = 0.5
"""The kind a member reports while it has no engine (the pool builds owned vLLM engines)."""


class PoolMember:
    """One engine slot of the pool: how to build its engine, and its current state."""

    def __init__(self, name: str, build: Callable[[], Engine], *, lazy: bool) -> None:
        self.name = name
        self.build = build
        """Makes a fresh, unstarted engine (a new child process for vLLM) for every (re)start."""
        self.lazy = lazy
        self.engine: Engine | None = None
        self.state: MemberState = "stopped"
        self.restarts = 0
        self.detail: str | None = None
        self.in_flight = 0
        self.last_used = 0.0
        self.start_lock = asyncio.Lock()
        self._started_once = False

    def alive(self) -> bool:
        """True when the engine is up and says it is alive (an owned vLLM child still runs)."""
        return self.engine is not None and self.state == "ready" and self.engine.alive()

    def crash_detail(self) -> str:
        detail = self.engine.describe().detail if self.engine is not None else None
        return detail or "stopped answering"


@dataclass
class Route:
    """Where requests for one model name go."""

    member: PoolMember
    adapter: str | None
    """The adapter name to send to that engine (None: the engine's own base model)."""
    strategy: Strategy
    path: Path | None = None
    model_dir: Path | None = None
    tokens: int = 0
    seconds: float = 0.0
    requests: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def output_tok_s(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


class EnginePool(EngineBase):
    """Engine protocol over a base engine plus one engine per merged adapter (module docstring)."""

    kind = "pool"
    passthrough = OPENAI_OPTIONS
    """Every member is a vLLM engine."""

    def __init__(
        self,
        *,
        base_model: str,
        base: Callable[[], Engine],
        base_has_lora: bool,
        merged_engine: Callable[[str, Path], Engine],
        merge: Callable[[Path], Path],
        strategy: Callable[[str], Strategy],
        adapters: dict[str, Path] | None = None,
        max_running: int = 3,
        monitor_interval_s: float = 2.0,
        prestart: Sequence[str] = (),
        start_registered: bool = False,
        evict: Callable[[list[Path]], object] | None = None,
    ) -> None:
        """
        ``base`` builds the base engine (with the unmerged start-up adapters already registered
        when ``base_has_lora``); ``merged_engine(name, model_dir)`` builds an engine serving a merged
        folder under ``name``; ``merge(adapter_dir)`` returns the merged folder (blocking, cached);
        ``strategy(name)`` decides per adapter; ``adapters`` are registered at start; the own engines
        of the adapters in ``prestart`` (``*``: all, as many as ``max_running`` allows) start in the
        background after that; with ``start_registered`` an adapter registered while the pool runs
        starts its own engine in the background at once (when there is room), not on first use;
        ``evict(needed_dirs)`` trims the merged cache after each merge.
        """
        self.base_model = base_model
        self.base_has_lora = base_has_lora
        self.max_running = max(1, max_running)
        self.monitor_interval_s = monitor_interval_s
        self._base = PoolMember("base", base, lazy=False)
        self._merged_engine = merged_engine
        self._merge = merge
        self._strategy = strategy
        self._initial = dict(adapters or {})
        self._routes: dict[str, Route] = {}
        self._monitor: asyncio.Task | None = None
        self._prestart = list(prestart)
        self._prestarting: list[asyncio.Task] = []
        self.not_prestarted: list[str] = []
        self.prestart_failed: dict[str, str] = {}
        """Adapters whose pre-start failed (or that do not exist), with why."""
        self.start_registered = start_registered
        self._evict = evict

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        engine = await self._ensure_started(self._base)
        served_by_base = {a.name for a in engine.adapters()}
        for name, path in self._initial.items():
            if name in served_by_base:
                self._routes[name] = Route(self._base, name, "unmerged", Path(path))
                self._write_card(name)
            elif name not in self._routes:
                await self.load_adapter(name, Path(path))
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._watch(), name="ragtune-engine-pool-monitor")
        names = self._prestart_names()
        self._prestarting = [
            asyncio.create_task(self.prestart(name), name=f"ragtune-prestart-{name}") for name in names
        ]

    def _prestart_names(self) -> list[str]:
        """The adapters to pre-start: those named, or with ``*`` every one served by an own engine,
        as many as ``max_running`` leaves room for beside the base engine (the rest are logged
        and kept in ``not_prestarted``)."""
        own = sorted(n for n, r in self._routes.items() if r.member is not self._base)
        for name in self._prestart:
            if name != "*" and name not in self._routes:
                log.warning("not pre-starting '%s': no such adapter", name)
                self.prestart_failed[name] = "no such adapter"
        wanted = own if "*" in self._prestart else [n for n in self._prestart if n != "*"]
        room = max(0, self.max_running - 1)
        self.not_prestarted = wanted[room:]
        if self.not_prestarted:
            log.warning(
                "engine pool: not pre-starting %s: engine.max_engines=%d leaves room for %d "
                "besides the base engine; they start on their first request",
                ", ".join(self.not_prestarted),
                self.max_running,
                room,
            )
        return wanted[:room]

    @property
    def prestarting(self) -> list[str]:
        """Adapters whose engines are still being pre-started (readiness waits for them)."""
        return [t.get_name().removeprefix("ragtune-prestart-") for t in self._prestarting if not t.done()]

    async def prestart(self, name: str) -> None:
        """Start the own engine of adapter ``name`` (merged or full) now rather than on its first
        request. Nothing to do for adapters on the base engine; a failure is logged, and the first
        request tries again."""
        route = self._routes.get(name)
        if route is None:
            log.warning("not pre-starting '%s': no such adapter", name)
            self.prestart_failed[name] = "no such adapter"
            return
        if route.member is self._base:
            return
        try:
            await self._ensure_started(route.member)
        except Exception as exc:  # noqa: BLE001 - a background task: recorded and logged, retried on use
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
            log.warning("pre-starting the engine of '%s' failed: %s", name, exc)
            self.prestart_failed[name] = f"its engine failed to start ({first_line}); it retries on its first request"
        else:
            self.prestart_failed.pop(name, None)

    async def prestarted(self) -> dict[str, str]:
        """Wait for the pre-starts under way; the adapters whose own engine is not pre-started,
        each with why (no room under ``max_engines``, a failed start, an unknown name)."""
        while pending := [t for t in self._prestarting if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        room = max(0, self.max_running - 1)
        why = {
            name: f"engine.max_engines={self.max_running} leaves room for {room} besides the base engine; "
            "it starts on its first request"
            for name in self.not_prestarted
        }
        return why | self.prestart_failed

    async def stop(self) -> None:
        for task in self._prestarting:
            task.cancel()
        await asyncio.gather(*self._prestarting, return_exceptions=True)
        self._prestarting = []
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for name in list(self._routes):
            self._write_card(name)
        for member in self._members():
            await self._stop_member(member)

    def _members(self) -> list[PoolMember]:
        merged = {id(r.member): r.member for r in self._routes.values() if r.member is not self._base}
        return [self._base, *merged.values()]

    async def _stop_member(self, member: PoolMember) -> None:
        engine, member.engine = member.engine, None
        member.state = "stopped"
        if engine is not None:
            await engine.stop()

    async def _ensure_started(self, member: PoolMember) -> Engine:
        """The member's running engine, starting (or restarting) it first; callers wait."""
        async with member.start_lock:
            if member.alive():
                return member.engine  # type: ignore[return-value]
            if member.state == "ready":
                self._mark_crashed(member)
            if member.engine is not None:
                await self._stop_member(member)
            await self._make_room(member)
            member.state = "starting"
            engine = member.build()
            try:
                await engine.start()
            except EngineError as exc:
                member.state = "crashed"
                member.detail = str(exc).splitlines()[0]
                await engine.stop()
                raise
            except asyncio.CancelledError:  # the waiting request went away, or shutdown: no orphan child
                member.state = "stopped"
                await asyncio.shield(engine.stop())
                raise
            if member._started_once:
                member.restarts += 1
            member._started_once = True
            member.engine = engine
            member.state = "ready"
            member.detail = None
            if member is self._base:
                await self._restore_unmerged(engine)
            return engine

    async def _restore_unmerged(self, engine: Engine) -> None:
        """After a base restart: load again the unmerged adapters added at run time."""
        present = {a.name for a in engine.adapters()}
        for name, route in self._routes.items():
            if route.strategy == "unmerged" and name not in present and route.path is not None:
                await engine.load_adapter(name, route.path)

    async def _make_room(self, starting: PoolMember) -> None:
        """Stop least-recently-used idle merged engines while the running count is at the limit;
        when every engine is busy, wait (up to MAX_ROOM_WAIT_S) instead of going over it."""
        waited = 0.0
        while True:
            running = [m for m in self._members() if m is not starting and m.state in ("ready", "starting")]
            if len(running) < self.max_running:
                return
            idle = [m for m in running if m.lazy and m.in_flight == 0 and m.state == "ready"]
            if not idle:  # never over the limit: wait for an engine to become idle
                if waited == 0:
                    log.warning(
                        "engine pool: all %d engines busy; %s waits for one to become idle", len(running), starting.name
                    )
                if waited >= MAX_ROOM_WAIT_S:
                    raise EngineError(
                        f"all {self.max_running} engines (engine.max_engines) stayed busy for "
                        f"{MAX_ROOM_WAIT_S:.0f} s; retry later"
                    )
                await asyncio.sleep(ROOM_POLL_S)
                waited += ROOM_POLL_S
                continue
            victim = min(idle, key=lambda m: m.last_used)
            log.info("engine pool: stopping idle engine %s to make room for %s", victim.name, starting.name)
            await self._stop_member(victim)

    def _mark_crashed(self, member: PoolMember) -> None:
        if member.state == "crashed":
            return
        member.detail = member.crash_detail()
        member.state = "crashed"
        log.error("engine pool: engine %s crashed: %s", member.name, member.detail)

    async def _watch(self) -> None:
        """Background health check: mark crashed engines; restart the base engine at once."""
        while True:
            await asyncio.sleep(self.monitor_interval_s)
            for member in self._members():
                if member.state == "ready" and not member.alive():
                    self._mark_crashed(member)
            if self._base.state == "crashed" and not self._base.start_lock.locked():
                try:
                    await self._ensure_started(self._base)
                except EngineError as exc:
                    log.error("engine pool: restarting the base engine failed: %s", exc)

    # --- status -------------------------------------------------------------------------------
    async def health(self) -> EngineHealth:
        statuses = []
        for member in self._members():
            if member.state == "ready" and not member.alive():
                self._mark_crashed(member)
            serves = [self.base_model] if member is self._base else []
            serves += sorted(n for n, r in self._routes.items() if r.member is member)
            described = member.engine.describe() if member.engine is not None else None
            statuses.append(
                EngineStatus(
                    name=member.name,
                    kind=described.kind if described else MEMBER_KIND,
                    state=member.state,
                    serves=serves,
                    url=described.url if described else None,
                    restarts=member.restarts,
                    detail=member.detail,
                )
            )
        starting = self.prestarting
        detail = self._base.detail or (f"starting the engines of {', '.join(starting)}" if starting else None)
        return EngineHealth(
            kind=self.kind,
            ready=self._base.state == "ready" and not starting,
            base_model=self.base_model,
            adapters=sorted(self._routes),
            engines=statuses,
            detail=detail,
        )

    def alive(self) -> bool:
        """The base engine's liveness (merged engines restart on their next request)."""
        return self._base.alive()

    def describe(self) -> EngineDescription:
        return EngineDescription(kind=self.kind, detail=self._base.detail)

    def adapters(self) -> list[AdapterInfo]:
        return [
            AdapterInfo(name=name, path=str(route.path), strategy=route.strategy, output_tok_s=route.output_tok_s)
            for name, route in sorted(self._routes.items())
        ]

    def engine_for(self, adapter: str | None) -> Engine | None:
        """The engine that serves ``adapter`` (None: the base) when it is running, else None."""
        member = self._route(adapter).member
        return member.engine if member.state == "ready" else None

    def strategy_of(self, name: str) -> Strategy:
        """How adapter ``name`` is served (AdapterNotFoundError when it is not loaded)."""
        return self._route(name).strategy

    # --- adapters -----------------------------------------------------------------------------
    async def load_adapter(self, name: str, path: Path) -> None:
        if name == self.base_model or name in self._routes:
            raise AdapterExistsError(f"adapter '{name}' is already loaded; unload it first")
        path = adapter_folder.require(path, AdapterNotFoundError)
        strategy = "full" if adapter_folder.is_full_model(path) else self._strategy(name)
        if strategy == "full":  # a full fine-tune is a model already: its own engine, nothing to merge
            member = PoolMember(f"model:{name}", lambda: self._merged_engine(name, path), lazy=True)
            self._routes[name] = Route(member, None, "full", path, path)
        elif strategy == "unmerged":
            if not self.base_has_lora:
                raise EngineRequestError(
                    f"adapter '{name}' is set to be served unmerged but the base engine runs without LoRA; "
                    "set RAGTUNE_ENGINE__ADAPTER_STRATEGY=unmerged (or this adapter's strategy to merged) "
                    "and restart"
                )
            engine = await self._ensure_started(self._base)
            await engine.load_adapter(name, path)
            self._routes[name] = Route(self._base, name, "unmerged", path)
        else:
            model_dir = await asyncio.to_thread(self._merge, path)
            if name in self._routes:  # loaded by a concurrent call while merging
                raise AdapterExistsError(f"adapter '{name}' is already loaded; unload it first")
            member = PoolMember(f"merged:{name}", lambda: self._merged_engine(name, model_dir), lazy=True)
            self._routes[name] = Route(member, None, "merged", path, model_dir)
            if self._evict is not None:
                needed = [r.model_dir for r in self._routes.values() if r.model_dir is not None]
                await asyncio.to_thread(self._evict, needed)
        self._write_card(name)
        if self.start_registered and self._monitor is not None and strategy != "unmerged" and self._has_room():
            # registered while running: its engine starts now, in the background, not on first use
            self._prestarting.append(asyncio.create_task(self.prestart(name), name=f"ragtune-prestart-{name}"))

    def _has_room(self) -> bool:
        running = [m for m in self._members() if m.state in ("ready", "starting")]
        return len(running) < self.max_running

    async def unload_adapter(self, name: str) -> None:
        route = self._route(name)
        if route.strategy == "unmerged":
            if self._base.alive():
                await self._base.engine.unload_adapter(name)  # type: ignore[union-attr]
        else:
            async with route.member.start_lock:
                await self._stop_member(route.member)
        self._write_card(name)
        del self._routes[name]

    def _route(self, adapter: str | None) -> Route:
        if adapter is None or adapter == self.base_model:
            return Route(self._base, None, "unmerged")
        route = self._routes.get(adapter)
        if route is None:
            known = ", ".join(sorted(self._routes)) or "none"
            raise AdapterNotFoundError(f"unknown adapter '{adapter}' (loaded: {known})")
        return route

    def _write_card(self, name: str) -> None:
        """Record strategy and measured speed in the adapter card's ``serving`` field (if carded)."""
        route = self._routes.get(name)
        if route is None or route.path is None:
            return

        def record(card: dict) -> None:
            serving = dict(card.get("serving") or {})
            serving.update(
                {
                    "strategy": route.strategy,
                    "engine": route.member.name,
                    "merged_model_dir": str(route.model_dir) if route.strategy == "merged" else None,
                    "requests": route.requests,
                }
            )
            if route.output_tok_s is not None:
                serving["output_tok_s"] = round(route.output_tok_s, 2)
            card["serving"] = serving

        try:
            adapter_folder.update_card(route.path, record)
        except (OSError, ValueError) as exc:
            log.warning("engine pool: could not update the card of %s: %s", name, exc)

    # --- generation ---------------------------------------------------------------------------
    def _record(self, adapter: str | None, route: Route, result: GenerationResult) -> None:
        if adapter is None or adapter not in self._routes:
            return
        route.requests += 1
        if result.completion_tokens > 1 and result.generation_ms > 0:
            route.tokens += result.completion_tokens - 1
            route.seconds += result.generation_ms / 1000.0
        if route.requests in (1, 10) or route.requests % 50 == 0:
            self._write_card(adapter)

    @staticmethod
    async def _died(member: PoolMember, engine: Engine, exc: EngineError) -> bool:
        """Whether ``exc`` came from the member's engine dying: a killed process may still look
        alive for a moment after its connections broke, so a server-side failure waits up to a
        second for it (as ``SupervisedEngine`` does)."""
        if member.engine is not engine or exc.status_code < 500:
            return False
        for _ in range(20):
            if not member.alive():
                return True
            await asyncio.sleep(0.05)
        return False

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        adapter = None if request.adapter in (None, self.base_model) else request.adapter
        route = self._route(adapter)
        member = route.member
        forwarded = request.model_copy(update={"adapter": route.adapter})
        retried = False
        while True:
            engine = await self._ensure_started(member)
            member.in_flight += 1
            member.last_used = time.monotonic()
            produced = False
            try:
                async for event in engine.stream(forwarded):
                    produced = True
                    if isinstance(event, GenerationResult):
                        self._record(adapter, route, event)
                    yield event
                return
            except EngineError as exc:
                crashed = await self._died(member, engine, exc)
                if crashed:
                    self._mark_crashed(member)
                if crashed and (produced or retried):  # the answer was under way: a clean error,
                    raise EngineCrashedError(  # without the engine's log tail (that went to the log)
                        f"the engine serving '{adapter or self.base_model}' crashed during the answer; "
                        "it restarts with the next request"
                    ) from None
                if produced or retried or not crashed:
                    raise
                log.warning(
                    "engine pool: %s crashed during a request (%s); restarting and retrying",
                    member.name,
                    str(exc).splitlines()[0],
                )
                retried = True
            finally:
                member.in_flight -= 1
