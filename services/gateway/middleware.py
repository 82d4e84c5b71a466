"""One pure-ASGI middleware: request id (``X-Request-ID``), start time and the body-size limit.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass straight through and the added
latency stays in microseconds.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import PayloadTooLargeError

CLIENT_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
"""A client's ``X-Request-ID`` that is kept (anything else is replaced by a fresh id)."""


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex[:24]}"


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` when it sent a sane one (so its logs and ours join up), else a new id."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and CLIENT_ID.fullmatch(value):
            return value.decode()
    return new_request_id()


class GatewayMiddleware:
    """Gives every HTTP request an id and a start time (``request.state``) and caps its body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers") or [])
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = time.perf_counter()
        header = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", header)]
            await send(message)

        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(request_id, send_with_id)
            return
        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLargeError(f"request body over {self.max_body_bytes} bytes")
            return message

        await self.app(scope, receive_capped, send_with_id)

    async def _too_large(self, request_id: str, send: Send) -> None:
        body = json.dumps({"error": {"type": "payload_too_large_error", "request_id": request_id,
                                     "message": f"request body over {self.max_body_bytes} bytes"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
