"""One pure-ASGI middleware: request id (``X-Request-ID``), start time, the body-size limit and,
for JSON bodies, the nesting-depth limit (``ragtune.jsonlimits``: checked before any parser runs).

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass straight through and the added
latency stays in microseconds.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragtune.jsonlimits import DepthScanner, JSONLimitError
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
        state = scope.setdefault("state", {})
        request_id = state.get("request_id") or request_id_of(scope.get("headers") or [])
        state["request_id"] = request_id
        state["started"] = time.perf_counter()
        header = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", header)]
            await send(message)

        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(request_id, send_with_id)
            return
        if b"json" in headers.get(b"content-type", b"").lower():
            await self._json_request(scope, receive, send_with_id, request_id)
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

    async def _json_request(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """Read a JSON body whole (it is parsed whole anyway), checking its size and nesting as it
        arrives; answer 413 / 422 directly, else replay it to the app."""
        scanner = DepthScanner(what="the JSON body")
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            piece = message.get("body", b"")
            received += len(piece)
            if received > self.max_body_bytes:
                await self._too_large(request_id, send)
                return
            try:
                scanner.feed(piece)
            except JSONLimitError as exc:
                await self._reply(send, 422, "input_limit_error", request_id, str(exc))
                return
            if not message.get("more_body", False):
                break
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, request_id: str, send: Send) -> None:
        await self._reply(
            send, 413, "payload_too_large_error", request_id, f"request body over {self.max_body_bytes} bytes"
        )

    @staticmethod
    async def _reply(send: Send, status: int, type_: str, request_id: str, message: str) -> None:
        body = json.dumps({"error": {"type": type_, "request_id": request_id, "message": message}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
