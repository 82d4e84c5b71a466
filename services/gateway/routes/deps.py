"""Dependencies shared by the routes: the app state, the calling tenant (auth + rate limit).

All ``async def`` although none awaits: FastAPI runs plain ``def`` dependencies in a worker thread,
a hop that cost more than the work itself on every request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragtune.settings import Role
from services.gateway.accounting import Stopwatch
from services.gateway.admission import current_tenant
from services.gateway.pipeline import AnswerPipeline
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant, authenticate

bearer = HTTPBearer(auto_error=False, description="An API key from the gateway settings.")


async def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway


async def get_pipeline(request: Request) -> AnswerPipeline:
    return request.app.state.pipeline


async def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Tenant:
    """The tenant of this request (401/403 otherwise), counted against its rate limit (429)."""
    state: GatewayState = request.app.state.gateway
    authorization = f"Bearer {credentials.credentials}" if credentials else request.headers.get("authorization")
    client = request.client.host if request.client else None
    tenant = getattr(request.state, "tenant", None)  # authenticated by the perimeter middleware
    if not isinstance(tenant, Tenant):
        tenant = authenticate(state.settings.gateway, authorization, client, state.keys)
    state.limiter.check(tenant.limit_key, tenant.rate_limit_per_minute)
    current_tenant.set(tenant.limit_key)  # admission control queues per tenant
    return tenant


def require(role: Role) -> Callable[..., Awaitable[Tenant]]:
    """A dependency: the caller (as ``caller`` checks it), 403 unless it holds ``role``."""

    async def holder(tenant: Tenant = Depends(caller)) -> Tenant:
        tenant.check_role(role)
        return tenant

    holder.__name__ = f"require_{role.value}"
    holder.role = role  # type: ignore[attr-defined]  # read by routes.access.document_roles (OpenAPI)
    return holder


async def request_id(request: Request) -> str:
    return request.state.request_id


async def request_clock(request: Request) -> Stopwatch:
    """Measures from the moment the middleware saw the request."""
    return Stopwatch(getattr(request.state, "started", None))


chat_caller = require(Role.CHAT)
documents_caller = require(Role.DOCUMENTS)
adapters_caller = require(Role.ADAPTERS)
rate_caller = require(Role.RATE)
admin_caller = require(Role.ADMIN)
