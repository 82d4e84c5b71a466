"""Gateway errors and the exception handlers that turn every failure into ``{"error": {...}}``.

Caller mistakes are 4xx (a RagtuneError's ``status_code``, 422 for invalid bodies); only a bug in
ragtune itself yields a 500, and then without leaking a traceback. On the OpenAI-compatible routes
(``/v1/chat/completions``, ``/v1/models``) errors take OpenAI's shape: ``type`` from OpenAI's set,
``param`` and ``code`` always present, and 400 instead of 422 for an invalid request.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragtune.errors import RagtuneError
from ragtune.models import ModelNotFoundError
from services.gateway.schemas import ErrorBody, ErrorResponse

log = logging.getLogger("ragtune.gateway")
ERROR_RESPONSES: dict[int | str, dict] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
"""The error statuses every route may answer, for the OpenAPI schema (``responses=``)."""


class AuthError(RagtuneError):
    """Missing or unknown API key."""

    status_code = 401


class ForbiddenError(RagtuneError):
    """The key is valid but may not reach this namespace, adapter or address."""

    status_code = 403


class PayloadTooLargeError(RagtuneError):
    status_code = 413


class RateLimitError(RagtuneError):
    status_code = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InputLimitError(RagtuneError):
    """A request field is over a configured limit."""

    status_code = 422


ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])~?/(?:[\w.@+~-]+/)+[\w.@+~-]*|(?<![\w.:/~-])/[\w.@+~-]+(?=[/\s:,;)'\"]|$)")
"""An absolute filesystem path (``/home/u/.cache/ragtune/index``, ``~/x``) inside a message."""
API_PATHS = ("/v1/", "/v1", "/healthz", "/metrics")
"""The gateway's own URL paths, kept in messages."""


def public_message(message: str) -> str:
    """What a client may read of an error message: its first line (engine log tails stay out), with
    filesystem paths cut to their last part (``…/name``); the whole message goes to the server log."""
    first = message.strip().splitlines()[0] if message.strip() else message

    def cut(match: re.Match[str]) -> str:
        path = match.group(0)
        if path.startswith(API_PATHS):
            return path
        name = path.rstrip("/").rsplit("/", 1)[-1]
        return f"…/{name}" if name and name != "~" else "…"

    public = ABSOLUTE_PATH.sub(cut, first)
    if len(message.strip().splitlines()) > 1:
        public += " (details in the gateway log)"
    return public


def error_type_name(exc: Exception) -> str:
    """``NotFoundError`` → ``not_found_error``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _count_error(request: Request, status: int) -> None:
    """``ragtune_errors_total{route, status}``, labelled by the route template (never raw paths)."""
    state = getattr(request.app.state, "gateway", None)
    if state is None:
        return
    route = request.scope.get("route")
    state.metrics.error(getattr(route, "path", "unmatched"), status)


OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def is_openai_route(request: Request) -> bool:
    return request.url.path.rstrip("/") in OPENAI_PATHS


def error_response(
    request: Request,
    status: int,
    type_: str,
    message: str,
    details: list | None = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    public = public_message(message)
    if public != message:
        log.warning("request %s: %s", _request_id(request), message)
        message = public
    if is_openai_route(request):
        status = 400 if status == 422 else status
        code, type_ = type_, OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        _count_error(request, status)
        body = ErrorBody(
            type=type_, message=message, param=param, code=code, request_id=_request_id(request), details=details
        )
        return JSONResponse(
            {"error": body.model_dump(exclude_none=True) | {"param": param, "code": code}},
            status_code=status,
            headers=headers,
        )
    _count_error(request, status)
    error = ErrorResponse(
        error=ErrorBody(type=type_, message=message, request_id=_request_id(request), details=details, param=param)
    )
    return JSONResponse(error.model_dump(exclude_none=True), status_code=status, headers=headers)


async def _ragtune_error(request: Request, exc: RagtuneError) -> JSONResponse:
    headers = None
    retry_after = getattr(exc, "retry_after_s", None)  # rate limits (429), overload (503)
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, round(retry_after)))}
    if exc.status_code >= 500:
        log.warning("request %s failed: %s", _request_id(request), exc)
    return error_response(
        request,
        exc.status_code,
        getattr(exc, "code", None) or error_type_name(exc),
        str(exc),
        headers=headers,
        param=getattr(exc, "param", None),
    )


async def _model_not_found(request: Request, exc: ModelNotFoundError) -> JSONResponse:
    return error_response(request, 404, "model_not_found", str(exc))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = jsonable_encoder(exc.errors(), custom_encoder={bytes: lambda b: b.decode("latin-1")})
    for item in details:
        item.pop("ctx", None)
        item.pop("input", None)
        item.pop("url", None)
    first = details[0] if details else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = f"invalid request: {where}: {first.get('msg', 'bad value')}" if first else "invalid request"
    param = ".".join(str(part) for part in first.get("loc", ())[1:]) or None if first else None
    return error_response(request, 422, "validation_error", message, details=details, param=param)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(
        request, exc.status_code, "http_error", str(exc.detail), headers=getattr(exc, "headers", None)
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error in request %s", _request_id(request))
    return error_response(request, 500, "internal_error", f"internal error ({type(exc).__name__}); see the gateway log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    # Starlette types handlers as taking any Exception; each of these takes its own subclass
    app.add_exception_handler(RagtuneError, _ragtune_error)  # type: ignore[arg-type]
    app.add_exception_handler(ModelNotFoundError, _model_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
