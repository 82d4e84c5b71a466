"""The gateway's perimeter: who may send a request at all, decided before its body is read.

``PerimeterMiddleware`` (pure ASGI, the outermost layer) runs on the request line and headers only:

- **Keyless loopback mode** (no API keys configured): the ``Host`` header must name loopback
  (``localhost``, ``127.0.0.1``, ``[::1]``; DNS rebinding → 403), and a browser request from
  another origin (an ``Origin`` that is not the gateway's own, or ``Sec-Fetch-Site: cross-site`` /
  ``same-site``) is refused with 403, so a page on another site cannot drive the local gateway.
- **Authenticated routes** (``/v1/…``, ``/metrics``; ``/healthz?detail=true`` when a key is sent): the ``Authorization``
  header is checked with ``services.gateway.tenants.authenticate`` before the app reads a byte of
  the body: a 20 MB upload with a wrong key is answered 401 without being received. The tenant is
  left in ``scope["state"]["tenant"]`` for the route dependencies.
- **Throttling of failed keys** per client address (``gateway.auth_failures_per_minute``, a moving
  60-second window from the ``limits`` library, in Redis when ``RAGTUNE_REDIS_URL`` is set): past
  the limit every request from the address gets 429 with ``Retry-After``, before its key is looked
  at, so keys cannot be guessed faster than the limit.

The page (``/``, ``/static/…``), the API docs and ``/healthz`` (liveness and readiness only) are
public.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from urllib.parse import urlsplit

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ragtune.settings import GatewaySettings
from services.gateway.errors import OPENAI_PATHS, OPENAI_TYPES, AuthError, ForbiddenError
from services.gateway.middleware import request_id_of
from services.gateway.tenants import authenticate

log = logging.getLogger("ragtune.gateway")
NAMESPACE = "ragtune-auth-failures"
PUBLIC_PATHS = frozenset({"/", "/healthz", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
LOOPBACK_HOST_NAMES = frozenset({"localhost", "testserver"})
"""Host names accepted in keyless mode besides loopback addresses (``testserver``: Starlette's
in-process test client)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE = frozenset({"cross-site", "same-site"})
"""``Sec-Fetch-Site`` values of a request made by a page of another origin (another port of
localhost is ``same-site``)."""


def needs_key(path: str) -> bool:
    """True for the routes that authenticate: everything but the page, its files, the API docs and
    ``/healthz``."""
    return not (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES))


def may_authenticate(path: str, query_string: bytes) -> bool:
    """``/healthz?detail=true``: public, but an admin's key (or the keyless local user) gets the
    detail, so a key sent there is checked (and a wrong one counted) like any other."""
    return path == "/healthz" and b"detail" in query_string


def host_name(host_header: str | None) -> str | None:
    """The name in a ``Host`` header without its port (``[::1]:8000`` → ``::1``)."""
    if not host_header:
        return None
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_host(host_header: str | None) -> bool:
    """True when the request was addressed to this machine by a loopback name (or has no Host)."""
    name = host_name(host_header)
    if name is None:
        return True
    if name in LOOPBACK_HOST_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _origin_key(scheme: str, netloc: str) -> tuple[str, str, int]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if scheme in ("https", "wss") else 80
    return scheme, (parts.hostname or ""), port or default


def cross_origin_reason(scope: Scope, headers: Headers) -> str | None:
    """Why a request comes from a page of another origin, or None when it does not."""
    site = headers.get("sec-fetch-site", "").lower()
    if site in CROSS_SITE:
        return f"Sec-Fetch-Site: {site}"
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin.strip().lower() == "null":
        return "Origin: null"
    own = _origin_key(scope.get("scheme", "http"), headers.get("host", ""))
    parts = urlsplit(origin.strip())
    if not parts.scheme or _origin_key(parts.scheme, parts.netloc) != own:
        return f"Origin {origin[:100]!r} is not this gateway's"
    return None


class AuthThrottle:
    """Counts failed key attempts per client address; past ``per_minute`` in any 60 s the address
    is refused. ``storage_uri``: ``memory://`` or a Redis URL (shared by the replicas). A storage
    outage does not lock everybody out: the throttle is skipped (fail open) and logged."""

    def __init__(self, per_minute: int, storage_uri: str = "memory://") -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or None when it is not throttled."""
        try:
            if self.limiter.test(self.item, NAMESPACE, client):
                return None
            stats = self.limiter.get_window_stats(self.item, NAMESPACE, client)
            return max(1.0, stats.reset_time - time.time())
        except Exception as exc:  # noqa: BLE001 - a storage outage must not refuse every request
            log.error("auth throttle storage failed (%s); not throttling", exc)
            return None

    def failed(self, client: str) -> None:
        """Record one failed attempt of ``client``."""
        try:
            self.limiter.hit(self.item, NAMESPACE, client)
        except Exception as exc:  # noqa: BLE001
            log.error("auth throttle storage failed (%s)", exc)


class PerimeterMiddleware:
    """Host, origin and key checks before the app (and before any body is read); see the module."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings, storage_uri: str | None = None) -> None:
        self.app = app
        self.settings = settings
        self.throttle = AuthThrottle(settings.auth_failures_per_minute, storage_uri or "memory://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        request_id = state.get("request_id") or request_id_of(scope.get("headers") or [])
        state["request_id"] = request_id
        refusal = self.check(scope, headers, state)
        if refusal is not None:
            status, type_, message, extra = refusal
            gateway = getattr(getattr(scope.get("app"), "state", None), "gateway", None)
            if gateway is not None:  # ragtune_errors_total{route="perimeter", status}
                gateway.metrics.error("perimeter", status)
            await reply(send, scope, status, type_, message, request_id, extra)
            return
        await self.app(scope, receive, send)

    def check(
        self, scope: Scope, headers: Headers, state: dict
    ) -> tuple[int, str, str, list[tuple[bytes, bytes]]] | None:
        """None when the request may go on, else (status, error type, message, extra headers)."""
        path: str = scope.get("path", "")
        gateway = getattr(getattr(scope.get("app"), "state", None), "gateway", None)
        keys = getattr(gateway, "keys", None)  # settings keys + the keys file (ragtune keys create)
        keyed = keys.any() if keys is not None else bool(self.settings.api_keys)
        if not keyed:
            host = headers.get("host")
            if not is_loopback_host(host):
                return (
                    403,
                    "forbidden_error",
                    f"this gateway has no API keys, so it answers only requests addressed to localhost, "
                    f"127.0.0.1 or [::1], not {host_name(host)!r}",
                    [],
                )
            method = scope.get("method", "GET")
            if method not in SAFE_METHODS or needs_key(path):
                reason = cross_origin_reason(scope, headers)
                if reason is not None:
                    return (
                        403,
                        "forbidden_error",
                        f"cross-origin request refused ({reason}): without API keys only the gateway's "
                        "own page may call it",
                        [],
                    )
        optional = may_authenticate(path, scope.get("query_string", b""))
        if not needs_key(path) and not optional:
            return None
        if optional and keyed and "authorization" not in headers:
            return None
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.throttle.retry_after(client)
        if wait is not None:
            return (
                429,
                "rate_limit_error",
                f"too many failed API-key attempts from this address; retry in {wait:.0f} s",
                [(b"retry-after", str(max(1, round(wait))).encode())],
            )
        try:
            state["tenant"] = authenticate(self.settings, headers.get("authorization"), client, keys)
        except AuthError as exc:
            self.throttle.failed(client)
            return 401, "auth_error", str(exc), [(b"www-authenticate", b"Bearer")]
        except ForbiddenError as exc:
            return None if optional else (403, "forbidden_error", str(exc), [])
        return None


async def reply(
    send: Send,
    scope: Scope,
    status: int,
    type_: str,
    message: str,
    request_id: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error response in the gateway's shape (OpenAI's on the OpenAI routes), with the request id."""
    error: dict[str, object] = {"type": type_, "message": message, "request_id": request_id}
    if scope.get("path", "").rstrip("/") in OPENAI_PATHS:
        error = {**error, "type": OPENAI_TYPES.get(status, "invalid_request_error"), "param": None, "code": type_}
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
