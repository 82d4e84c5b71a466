"""Per-key rate limits (requests per minute) with the ``limits`` library: a moving 60-second window,
in memory by default, in Redis when ``RAGTUNE_REDIS_URL`` is set so that every gateway replica
counts against one limit (with 3-20 replicas a per-process limit would be the limit × replicas).

A Redis that cannot be reached does not fail requests: the limit is skipped (fail open) and the
error logged, once a minute at most.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.gateway.errors import RateLimitError

log = logging.getLogger("ragtune.gateway")
WINDOW_S = 60.0
NAMESPACE = "ragtune-rate"


def _refusal(limit: int, retry_after: float) -> RateLimitError:
    return RateLimitError(
        f"rate limit of {limit} requests per minute reached; retry in {retry_after:.0f} s", retry_after_s=retry_after
    )


class RateLimiter:
    """Allows at most ``limit`` calls per key in any 60-second window.

    ``storage_uri``: ``memory://`` (this process) or ``redis://…`` (shared). ``clock`` (tests only)
    counts in this process against that clock instead.
    """

    def __init__(self, clock: Callable[[], float] | None = None, *, storage_uri: str = "memory://") -> None:
        self.storage_uri = storage_uri
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri)) if clock is None else None
        self._last_error_log = 0.0

    @classmethod
    def for_redis(cls, redis_url: str | None) -> RateLimiter:
        """Shared through ``redis_url`` when given, else in memory."""
        return cls(storage_uri=redis_url) if redis_url else cls()

    def check(self, key: str, limit: int) -> None:
        """Record one call for ``key``, or raise RateLimitError (429) with the wait in seconds."""
        if self._limiter is None:
            self._check_local(key, limit)
            return
        item = RateLimitItemPerMinute(limit)
        try:
            allowed = self._limiter.hit(item, NAMESPACE, key)
            if not allowed:
                stats = self._limiter.get_window_stats(item, NAMESPACE, key)
                raise _refusal(limit, max(1.0, stats.reset_time - time.time()))
        except RateLimitError:
            raise
        except Exception as exc:  # noqa: BLE001 - a storage outage must not fail every request
            if time.monotonic() - self._last_error_log > WINDOW_S:
                self._last_error_log = time.monotonic()
                log.error(
                    "rate limit storage %s failed (%s); not limiting until it is back",
                    self.storage_uri.split("@")[-1],
                    exc,
                )

    def remaining(self, key: str, limit: int) -> int:
        """Calls ``key`` may still make in the current window."""
        if self._limiter is None:
            assert self._clock is not None
            now = self._clock()
            calls = self._calls.get(key, ())
            return max(limit - sum(1 for t in calls if now - t < WINDOW_S), 0)
        return int(self._limiter.get_window_stats(RateLimitItemPerMinute(limit), NAMESPACE, key).remaining)

    def _check_local(self, key: str, limit: int) -> None:
        assert self._clock is not None
        now = self._clock()
        calls = self._calls.setdefault(key, deque())
        while calls and now - calls[0] >= WINDOW_S:
            calls.popleft()
        if len(calls) >= limit:
            raise _refusal(limit, WINDOW_S - (now - calls[0]))
        calls.append(now)
