"""A per-key sliding-window rate limit (requests per minute), in memory, one per gateway process."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from services.gateway.errors import RateLimitError

WINDOW_S = 60.0


class RateLimiter:
    """Allows at most ``limit`` calls per key in any 60-second window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    def check(self, key: str, limit: int) -> None:
        """Record one call for ``key``, or raise RateLimitError (429) with the wait in seconds."""
        now = self._clock()
        calls = self._calls.setdefault(key, deque())
        while calls and now - calls[0] >= WINDOW_S:
            calls.popleft()
        if len(calls) >= limit:
            retry_after = WINDOW_S - (now - calls[0])
            raise RateLimitError(
                f"rate limit of {limit} requests per minute reached; retry in {retry_after:.0f} s",
                retry_after_s=retry_after,
            )
        calls.append(now)

    def remaining(self, key: str, limit: int) -> int:
        """Calls ``key`` may still make in the current window."""
        now = self._clock()
        calls = self._calls.get(key, ())
        return max(limit - sum(1 for t in calls if now - t < WINDOW_S), 0)
