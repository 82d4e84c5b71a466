"""Fair shares of engine time for self-hosted cost: concurrent requests split the machine.

A self-hosted engine costs its machine's $/hour whether it serves one request or eight. Charging
each request its own wall time bills the same second once per request in flight (at concurrency 8,
about 8× what the machine cost). Here time is shared the way a processor-sharing queue shares it:
during any interval, each of the ``n`` requests in flight is charged ``interval / n``. A request's
share is the growth of a virtual clock that advances at ``1 / n`` seconds per second while
``n ≥ 1`` requests are in flight, so the shares of all requests add up exactly to the time the
engine was busy, and their cost to what the machine cost for that time.

The cost bills the engine's own timings (time to first token, generation) scaled by the request's
``Share.fraction``: alone a request pays its full engine time, among eight about an eighth of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Ticket:
    """A request's place on the virtual clock and on the real one when it entered the engine."""

    virtual: float
    real: float


@dataclass(frozen=True)
class Share:
    """What one request had of the engine: ``share_ms`` of its ``wall_ms`` in it."""

    share_ms: float
    wall_ms: float

    @property
    def fraction(self) -> float:
        """share / wall in [0, 1]: 1 alone, about 1/8 among eight (1 when too short to measure)."""
        if self.wall_ms <= 0:
            return 1.0
        return min(max(self.share_ms / self.wall_ms, 0.0), 1.0)


class EngineTimeLedger:
    """The virtual clock shared by every request on one machine (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._active = 0
        self._virtual = 0.0
        self._last = clock()

    def _advance(self) -> float:
        now = self._clock()
        if self._active:
            self._virtual += (now - self._last) / self._active
        self._last = now
        return now

    def start(self) -> Ticket:
        """A request enters the engine."""
        with self._lock:
            now = self._advance()
            self._active += 1
            return Ticket(self._virtual, now)

    def stop(self, ticket: Ticket) -> Share:
        """The request holding ``ticket`` left the engine: its share and its own wall time."""
        with self._lock:
            now = self._advance()
            self._active = max(self._active - 1, 0)
            return Share((self._virtual - ticket.virtual) * 1000.0, (now - ticket.real) * 1000.0)

    @property
    def in_flight(self) -> int:
        return self._active
