"""Admission control: a cap on in-flight generations per engine, a bounded queue with a deadline,
and fairness between tenants.

Every generation asks ``AdmissionControl.slot(engine_key, tenant)`` first. Under the cap it runs at
once; otherwise it waits in its tenant's queue, and a freed slot goes to the tenants in turn
(round-robin), so one tenant's burst cannot starve another. Limits: ``gateway.admission``
(``AdmissionSettings``). A full queue, or a wait past the
deadline, is ``OverloadedError``: 503 with ``Retry-After``, never unbounded queueing.

``AdmittedEngine`` wraps the gateway's engine so that ``generate`` and ``stream`` go through it;
the tenant comes from ``current_tenant`` (set when the request is authenticated).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ragtune.errors import RagtuneError
from ragtune.settings import AdmissionSettings
from services.engines.base import Engine, GenerationRequest, GenerationResult, StreamDelta

current_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("ragtune_tenant", default="anonymous")
"""The tenant of the request being served (``routes/deps.caller`` sets it)."""


class OverloadedError(RagtuneError):
    """No generation slot now: retry after ``retry_after_s`` (503 with ``Retry-After``)."""

    status_code = 503

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Lane:
    """One engine's slots and its waiters, queued per tenant."""

    in_flight: int = 0
    waiting: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)
    turns: deque[str] = field(default_factory=deque)
    """Tenants with waiters, in the order their turn comes."""

    def queued(self) -> int:
        return sum(len(q) for q in self.waiting.values())


class AdmissionControl:
    """Slots per engine key with a fair, bounded, time-limited queue (one per event loop)."""

    def __init__(self, settings: AdmissionSettings | None = None) -> None:
        self.settings = settings or AdmissionSettings()
        self._lanes: dict[str, _Lane] = {}

    def stats(self, key: str) -> dict[str, int]:
        """``{"in_flight": n, "queued": m}`` of one engine key."""
        lane = self._lanes.get(key, _Lane())
        return {"in_flight": lane.in_flight, "queued": lane.queued()}

    @asynccontextmanager
    async def slot(self, key: str, tenant: str) -> AsyncIterator[None]:
        """Hold one of ``key``'s slots for the body; raises OverloadedError when none comes."""
        await self._acquire(key, tenant)
        try:
            yield
        finally:
            self._release(key)

    async def _acquire(self, key: str, tenant: str) -> None:
        lane = self._lanes.setdefault(key, _Lane())
        limits = self.settings
        if lane.in_flight < limits.max_in_flight and not lane.turns:
            lane.in_flight += 1
            return
        retry = max(1, math.ceil(limits.queue_timeout_s / 4))
        if lane.queued() >= limits.max_queue:
            raise OverloadedError(
                f"the engine for '{key}' is busy ({lane.in_flight} generations running, {lane.queued()} "
                f"waiting, queue limit {limits.max_queue}); retry in {retry} s",
                retry,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = lane.waiting.setdefault(tenant, deque())
        queue.append(waiter)
        if tenant not in lane.turns:
            lane.turns.append(tenant)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), limits.queue_timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self._release(key)  # the slot came just as we gave up: pass it on
            else:
                waiter.cancel()
                self._forget(lane, tenant, waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise OverloadedError(
                f"waited {limits.queue_timeout_s:g} s for a generation slot on '{key}' "
                f"(gateway.admission.queue_timeout_s); retry in {retry} s",
                retry,
            ) from None

    @staticmethod
    def _forget(lane: _Lane, tenant: str, waiter: asyncio.Future[None]) -> None:
        queue = lane.waiting.get(tenant)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del lane.waiting[tenant]
                if tenant in lane.turns:
                    lane.turns.remove(tenant)

    def _release(self, key: str) -> None:
        """Free a slot: the next tenant in turn gets it (its oldest waiter)."""
        lane = self._lanes[key]
        lane.in_flight -= 1
        while lane.turns:
            tenant = lane.turns.popleft()
            queue = lane.waiting[tenant]
            waiter = queue.popleft()
            if queue:
                lane.turns.append(tenant)
            else:
                del lane.waiting[tenant]
            if not waiter.done():
                lane.in_flight += 1
                waiter.set_result(None)
                return


class AdmittedEngine:
    """An Engine whose ``generate`` and ``stream`` take an admission slot first; everything else
    is the wrapped engine's."""

    def __init__(self, engine: Engine, control: AdmissionControl) -> None:
        self.inner = engine
        self.control = control

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @staticmethod
    def key(request: GenerationRequest) -> str:
        """The engine a request runs on: its adapter's, or the base model's."""
        return request.adapter or "base"

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        async with self.control.slot(self.key(request), current_tenant.get()):
            return await self.inner.generate(request)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        async with self.control.slot(self.key(request), current_tenant.get()):
            async for item in self.inner.stream(request):
                yield item
