"""What one gateway app holds while it runs (``app.state.gateway``)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ragtune.settings import Settings
from services.engines.base import Engine, EngineError
from services.gateway.accounting import TokenCounter
from services.gateway.adapters import AdapterRegistry
from services.gateway.feedback import FeedbackStore
from services.gateway.metrics import GatewayMetrics
from services.gateway.ratelimit import RateLimiter

T = TypeVar("T")


class IndexUnavailableError(EngineError):
    """The document index could not be opened; retrieval modes and /v1/documents are down."""

    status_code = 503


@dataclass
class GatewayState:
    settings: Settings
    engine: Engine
    counter: TokenCounter
    adapters: AdapterRegistry
    feedback: FeedbackStore
    metrics: GatewayMetrics
    store: Any | None = None
    """The ``indexer.DocumentStore``; None when it could not be opened (``store_error`` says why)."""
    store_error: str | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    index_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragtune-index"))
    """Index calls (embedding, FAISS, SQLite) run here, one at a time, off the event loop."""

    def require_store(self) -> Any:
        if self.store is None:
            raise IndexUnavailableError(f"the document index is unavailable: {self.store_error}")
        return self.store

    async def run_index(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking index call in the index thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.index_executor, functools.partial(fn, *args, **kwargs))
