"""What one gateway app holds while it runs (``app.state.gateway``), and its access to the index.

The routes read what they need from ``GatewayState``; the answer flow (``AnswerPipeline``) gets
its parts handed in explicitly instead (see ``AnswerPipeline.from_state``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from indexer.errors import IndexUnavailableError
from ragtune.audit_log import AuditLog
from ragtune.keys import KeyRing
from ragtune.settings import IndexSettings, Settings
from services.engines.base import Engine
from services.gateway.accounting import TokenCounter
from services.gateway.adapters import AdapterRegistry
from services.gateway.feedback import FeedbackStore
from services.gateway.metrics import GatewayMetrics
from services.gateway.ratelimit import RateLimiter
from services.improve.exchanges import ExchangeStore

if TYPE_CHECKING:
    from indexer.retriever import Retriever
    from indexer.schemas import SearchHit
    from indexer.store import DocumentStore
    from services.gateway.ratings import RatingStore

T = TypeVar("T")


class IndexAccess:
    """The document index as the gateway uses it: the store (or why it could not be opened), its
    retriever, and two kinds of threads off the event loop: searches and listings run in a small
    reader pool, writes (uploads, deletes) one at a time in their own writer thread. A write never
    holds up a search: searches keep answering from the last committed documents while it embeds,
    and wait at most for one document's commit."""

    def __init__(
        self, store: DocumentStore | None, error: str | None, config: IndexSettings, *, readers: int = 4
    ) -> None:
        self.store = store
        self.error = error
        self.retriever: Retriever | None = store.retriever(config.retrieval) if store is not None else None
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="ragtune-index-read")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragtune-index-write")

    def require(self) -> DocumentStore:
        """The store, or IndexUnavailableError (503) saying why there is none."""
        if self.store is None:
            raise IndexUnavailableError(f"the document index is unavailable: {self.error}")
        return self.store

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking index read (search, listing) in the reader pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking index write (add, remove) in the writer thread, after the writes before it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, functools.partial(fn, *args, **kwargs))

    async def search(self, query: str, *, k: int, namespace: str) -> list[SearchHit]:
        """The ``k`` best chunks of ``namespace`` for ``query`` (the configured retrieval)."""
        self.require()
        assert self.retriever is not None
        return await self.run(self.retriever.run, query, k=k, namespace=namespace)

    def close(self) -> None:
        """Wait for the index calls in flight, then close the store."""
        self._writer.shutdown(wait=True)
        self._executor.shutdown(wait=True)
        if self.store is not None:
            self.store.close()


@dataclass
class GatewayState:
    settings: Settings
    engine: Engine
    counter: TokenCounter
    adapters: AdapterRegistry
    feedback: FeedbackStore
    metrics: GatewayMetrics
    index: IndexAccess
    limiter: RateLimiter = field(default_factory=RateLimiter)
    audit: AuditLog | None = None
    """The append-only audit log of administrative actions (``ragtune.audit_log``)."""
    keys: KeyRing | None = None
    """Every accepted API key (settings + keys file); None: the settings' keys only."""
    exchanges: ExchangeStore | None = None
    """Kept exchanges of rated requests, for tenants that keep them (``services/improve``)."""
    ratings: RatingStore | None = None
    """Blind rating tasks and judgements (in the feedback database)."""
