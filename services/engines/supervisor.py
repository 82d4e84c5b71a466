"""Engines come back: ``SupervisedEngine`` restarts an owned engine (the single vLLM child) after a crash.

A background monitor checks ``alive()`` every ``monitor_interval_s`` and restarts a dead engine
(stop, start, then the adapters loaded at run time again). While it is down:

- a stream that was running ends with ``EngineCrashedError`` (the SSE error event says the engine
  crashed and is restarting), without the engine's log tail (that goes to the gateway log);
- a plain request gets the same 503 with ``Retry-After``, and starts the restart if the monitor
  has not yet;
- the next request after the restart is answered as usual.

The pool (``engines/pool.py``) restarts its own members; this wraps the engines outside a pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services.engines.base import Engine, EngineError, GenerationRequest, GenerationResult, StreamDelta

log = logging.getLogger("ragtune.engines")
RETRY_AFTER_S = 30.0
"""What ``Retry-After`` says while an engine restarts (a CPU vLLM start takes about a minute)."""


class EngineCrashedError(EngineError):
    """The engine died; it is being restarted (503 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after_s: float = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SupervisedEngine:
    """``engine`` with crash detection and automatic restarts; everything else is the engine's."""

    def __init__(self, engine: Engine, *, monitor_interval_s: float = 2.0) -> None:
        self.inner = engine
        self.monitor_interval_s = monitor_interval_s
        self.restarts = 0
        self._monitor: asyncio.Task[None] | None = None
        self._restarting: asyncio.Task[None] | None = None
        self._stopping = False
        self._loaded: dict[str, Path] = {}
        """Adapters loaded at run time (the engine's start registers the others again)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        await self.inner.start()
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._watch(), name="ragtune-engine-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._monitor, self._restarting):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._monitor = self._restarting = None
        await self.inner.stop()

    async def load_adapter(self, name: str, path: Path) -> None:
        await self.inner.load_adapter(name, path)
        self._loaded[name] = Path(path)

    async def unload_adapter(self, name: str) -> None:
        await self.inner.unload_adapter(name)
        self._loaded.pop(name, None)

    def alive(self) -> bool:
        return self.inner.alive() and not self.restarting

    @property
    def restarting(self) -> bool:
        return self._restarting is not None and not self._restarting.done()

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.monitor_interval_s)
            if not self.inner.alive():
                restart = self.restart()
                with contextlib.suppress(Exception):  # logged by _restart; tried again next round
                    await restart

    def restart(self) -> asyncio.Task[None]:
        """The restart in progress, or a new one (one at a time)."""
        if self._restarting is None or self._restarting.done():
            self._restarting = asyncio.create_task(self._restart(), name="ragtune-engine-restart")
        return self._restarting

    async def _restart(self) -> None:
        detail = self.inner.describe().detail or "not alive"
        self.restarts += 1
        log.error("the %s engine crashed (%s); restarting it (restart %d)", self.inner.kind, detail, self.restarts)
        with contextlib.suppress(Exception):
            await self.inner.stop()
        try:
            await self.inner.start()
        except Exception as exc:
            log.error("restarting the %s engine failed: %s", self.inner.kind, exc)
            raise
        known = {a.name for a in self.inner.adapters()}
        for name, path in self._loaded.items():
            if name not in known:
                try:
                    await self.inner.load_adapter(name, path)
                except Exception as exc:  # noqa: BLE001 - the others still come back
                    log.warning("adapter %s not restored after the engine restart: %s", name, exc)
        log.warning("the %s engine is back after restart %d", self.inner.kind, self.restarts)

    def _down(self, during: str) -> EngineCrashedError:
        """The error for a request that meets a dead engine (which starts restarting)."""
        if not self._stopping:
            self.restart()
        return EngineCrashedError(
            f"the {self.inner.kind} engine crashed {during}; it is restarting, retry in about {RETRY_AFTER_S:.0f} s"
        )

    async def _died(self, exc: EngineError) -> bool:
        """Whether ``exc`` came from the engine dying: a killed process may still look alive for a
        moment after its connections broke, so a server-side failure waits up to a second for it."""
        if exc.status_code < 500:
            return False
        for _ in range(20):
            if not self.inner.alive():
                return True
            await asyncio.sleep(0.05)
        return False

    # --- generation -------------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if not self.alive():
            raise self._down("before this request")
        try:
            return await self.inner.generate(request)
        except EngineError as exc:
            if await self._died(exc):
                raise self._down("during this request") from None
            raise

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        if not self.alive():
            raise self._down("before this request")
        try:
            async for item in self.inner.stream(request):
                yield item
        except EngineError as exc:
            if await self._died(exc):
                raise self._down("during this answer") from None
            raise
