"""SSE keep-alive: a comment line whenever a stream has sent nothing for a while.

A stream may wait before its first token: for a generation slot (admission control), for an
engine that is starting, for a long prefill. Proxies and clients drop connections that stay silent,
so ``with_keepalive`` sends ``: keep-alive`` (an SSE comment, ignored by every SSE parser) after
each ``interval_s`` without an event. The wrapped events run in one task of their own (so the
engine's stream keeps its task, as its HTTP client's timeouts need) and hand over through a
one-item queue (so a slow reader still holds the engine back).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

KEEPALIVE_S = 10.0
"""Default seconds of silence before a keep-alive comment (``gateway.sse_keepalive_s``)."""
COMMENT = ": keep-alive\n\n"
_END = object()


async def with_keepalive(events: AsyncIterator[str], interval_s: float = KEEPALIVE_S) -> AsyncIterator[str]:
    """``events``, with ``COMMENT`` after every ``interval_s`` seconds without one; an exception in
    ``events`` is raised here, and closing this iterator stops ``events``."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        try:
            async for item in events:
                await queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            await queue.put(exc)
            return
        finally:
            closer = getattr(events, "aclose", None)
            if closer is not None:  # stopped mid-way (the client left): let the stream clean up now
                await closer()
        await queue.put(_END)

    producer = asyncio.create_task(produce())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval_s)
            except TimeoutError:
                yield COMMENT
                continue
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
