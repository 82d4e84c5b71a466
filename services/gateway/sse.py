"""Server-sent events: ``data: JSON`` lines, errors as a final event, then ``data: [DONE]``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from ragtune.errors import RagtuneError
from services.gateway.errors import error_type_name, public_message
from services.gateway.keepalive import KEEPALIVE_S, with_keepalive

log = logging.getLogger("ragtune.gateway")
DONE = "data: [DONE]\n\n"


def event(data: BaseModel | dict[str, Any]) -> str:
    """One SSE ``data:`` event."""
    payload = data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


def error_event(exc: Exception, request_id: str) -> str:
    """What a stream says when it fails after it started (the status line was already sent)."""
    if isinstance(exc, RagtuneError):
        message = public_message(str(exc))  # no log tails or paths: those go to the server log
        if message != str(exc):
            log.warning("stream %s failed: %s", request_id, exc)
        body = {"type": error_type_name(exc), "message": message, "status": exc.status_code}
    else:
        log.exception("stream %s failed", request_id)
        body = {"type": "internal_error", "message": f"internal error ({type(exc).__name__})", "status": 500}
    body["request_id"] = request_id
    return event({"error": body})


async def guarded(events: AsyncIterator[str], request_id: str) -> AsyncIterator[str]:
    """Pass events through; a failure becomes an error event; always end with [DONE]."""
    try:
        async for item in events:
            yield item
    except Exception as exc:  # noqa: BLE001 - reported to the client in-band
        yield error_event(exc, request_id)
    yield DONE


def sse_response(
    events: AsyncIterator[str], request_id: str, keepalive_s: float | None = KEEPALIVE_S
) -> StreamingResponse:
    """The events as an SSE response; a comment every ``keepalive_s`` while none comes."""
    if keepalive_s:
        events = with_keepalive(events, keepalive_s)
    return StreamingResponse(
        guarded(events, request_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
