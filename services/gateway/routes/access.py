"""``GET /v1/whoami`` (what the calling key may do) and the roles written into the OpenAPI schema.

The web page asks ``/v1/whoami`` and hides what the key may not do; ``document_roles(app)`` adds
"Requires role: …" to each route's description and ``x-ragtune-role`` to its operation, read from
the ``require(role)`` dependency the route already has (one place decides, the schema just says it).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ragtune.settings import Role
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.deps import caller, get_state
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["access"])


class WhoAmI(BaseModel):
    """The calling key: its tenant and what it may do."""

    tenant: str
    key_prefix: str | None = None
    """The key's public prefix (keys of ``ragtune keys create``); None for settings keys."""
    keyless: bool
    """True for the local (no-key, loopback) user, who may do everything."""
    roles: list[Role]
    """The roles the key holds (``admin`` holds every role)."""
    can: dict[Role, bool]
    """Each role: whether this key may use the routes that need it."""
    namespace: str
    adapters: list[str]
    """The adapter names the key is allowed (``*``: any it may reach)."""
    usable_adapters: list[str]
    """Loaded adapters this key may answer with now (its own and shared ones; admins: all)."""


@router.get("/v1/whoami", response_model=WhoAmI, responses=ERROR_RESPONSES)
async def whoami(tenant: Tenant = Depends(caller), state: GatewayState = Depends(get_state)) -> WhoAmI:
    """The calling key's tenant, roles, namespace and adapters."""
    return WhoAmI(
        tenant=tenant.name,
        key_prefix=tenant.key_prefix,
        keyless=not tenant.restricted,
        roles=sorted(tenant.roles, key=list(Role).index),
        can={role: tenant.has(role) for role in Role},
        namespace=tenant.namespace,
        adapters=list(tenant.adapters),
        usable_adapters=[n for n in state.adapters.names() if state.adapters.may_use(tenant, n)],
    )


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def route_role(route: APIRoute) -> Role | None:
    """The role a route's ``require(role)`` dependency asks for, or None."""
    for sub in _dependencies(route.dependant):
        role = getattr(sub.call, "role", None)
        if isinstance(role, Role):
            return role
    return None


def route_needs_key(route: APIRoute) -> bool:
    """True when a route authenticates its caller (any role)."""
    return any(sub.call is caller for sub in _dependencies(route.dependant))


def document_roles(app: FastAPI) -> None:
    """Write into every API route's OpenAPI operation which role may call it (once per route)."""
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if "x-ragtune-role" in (route.openapi_extra or {}):
            continue
        role = route_role(route)
        if role is not None:
            also = " (or `admin`)" if role != Role.ADMIN else ""
            note, marker = f"**Requires role:** `{role.value}`{also}.", role.value
        elif route_needs_key(route):
            note, marker = "**Requires:** any valid API key (every role).", "any"
        else:
            continue
        route.description = f"{route.description}\n\n{note}".strip()
        route.openapi_extra = {**(route.openapi_extra or {}), "x-ragtune-role": marker}


def install_role_docs(app: FastAPI) -> None:
    """Run ``document_roles`` when the schema is first built (so routers included later count)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document_roles(app)
        return build()

    app.openapi = openapi  # type: ignore[method-assign]
