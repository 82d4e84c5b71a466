"""API keys → tenants: which index namespace and which adapters a caller may reach.

With keys configured every request needs ``Authorization: Bearer KEY`` and a tenant only ever sees
its own namespace and allowed adapters. With no keys the gateway is a local tool: it binds to
loopback only and accepts requests from loopback addresses only, as one tenant that may use every
namespace and adapter.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ragtune.keys import KeyRing
from ragtune.settings import GatewaySettings, Role
from services.gateway.budgets import Budget
from services.gateway.errors import AuthError, ForbiddenError

LOCAL_TENANT = "local"
DEFAULT_NAMESPACE = "default"
LOOPBACK_NAMES = {"localhost", "testclient"}
"""Host names treated as loopback (``testclient`` is Starlette's in-process test client)."""


@dataclass(frozen=True)
class Tenant:
    """The caller of one request."""

    name: str
    namespace: str
    adapters: tuple[str, ...]
    rate_limit_per_minute: int
    restricted: bool
    """True for API-key tenants: confined to their namespace; False for the local (no-key) user."""
    limit_key: str
    """What the rate limiter counts against (tenant name, or the client address when local)."""
    mask_output_pii: bool = False
    """Mask personal data in this tenant's answers (the output guard)."""
    roles: frozenset[Role] = frozenset({Role.CHAT})
    """What this caller may do (the local no-key user: everything)."""
    key_prefix: str | None = None
    """The public prefix of the caller's key (keys of ``ragtune keys create``), for the audit log."""
    budget: Budget | None = None
    """The key's daily token / USD budget (None: the configured one of the tenant's name, if any)."""

    @property
    def is_admin(self) -> bool:
        """True for ``admin`` keys and the local (no-key) user."""
        return Role.ADMIN in self.roles

    def has(self, role: Role) -> bool:
        """True when the caller holds ``role`` (``admin`` holds every role)."""
        return Role.ADMIN in self.roles or role in self.roles

    def check_role(self, role: Role) -> None:
        """ForbiddenError unless the caller holds ``role``."""
        if not self.has(role):
            raise ForbiddenError(f"this API key lacks the '{role.value}' role")

    def may_use_adapter(self, name: str) -> bool:
        return "*" in self.adapters or name in self.adapters

    def namespace_for(self, requested: str | None) -> str:
        """The namespace a request works in; a restricted tenant may only name its own."""
        if requested is None or requested == self.namespace:
            return self.namespace
        if self.restricted:
            raise ForbiddenError(f"this API key may only use namespace '{self.namespace}'")
        return requested

    def check_adapter(self, name: str) -> None:
        if not self.may_use_adapter(name):
            raise ForbiddenError(f"this API key may not use adapter '{name}'")


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1, localhost and the in-process test client."""
    if host is None or host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def bearer_token(authorization: str | None) -> str | None:
    """The KEY of an ``Authorization: Bearer KEY`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(
    settings: GatewaySettings, authorization: str | None, client_host: str | None, keys: KeyRing | None = None
) -> Tenant:
    """The tenant of a request, or AuthError/ForbiddenError. ``keys``: every accepted key (default:
    the settings' keys only); a key is compared by its hash, never stored or logged."""
    keys = keys if keys is not None else KeyRing(settings.api_keys, None)
    if not keys.any():
        if not is_loopback(client_host):
            raise ForbiddenError("no API keys are configured, so this gateway only answers loopback callers")
        return Tenant(
            name=LOCAL_TENANT,
            namespace=DEFAULT_NAMESPACE,
            adapters=("*",),
            rate_limit_per_minute=settings.rate_limit_per_minute,
            restricted=False,
            limit_key=f"{LOCAL_TENANT}:{client_host}",
            mask_output_pii=settings.mask_output_pii,
            roles=frozenset(Role),
        )
    token = bearer_token(authorization)
    if token is None:
        raise AuthError("missing API key: send 'Authorization: Bearer KEY'")
    found = keys.lookup(token)
    if found is None:
        raise AuthError("unknown API key")
    tenant, prefix = found
    return Tenant(
        name=tenant.name,
        namespace=tenant.namespace,
        adapters=tuple(tenant.adapters),
        rate_limit_per_minute=tenant.rate_limit_per_minute,
        restricted=True,
        limit_key=f"tenant:{tenant.name}",
        mask_output_pii=tenant.mask_output_pii,
        roles=frozenset(tenant.roles),
        key_prefix=prefix,
        budget=Budget(tenant.tokens_per_day, tenant.usd_per_day),
    )


def check_bind_address(settings: GatewaySettings, host: str, keys: KeyRing | None = None) -> None:
    """Refuse to listen beyond loopback when no API keys protect the gateway."""
    if (keys if keys is not None else KeyRing(settings.api_keys, None)).any():
        return
    if not is_loopback(host) or host in ("0.0.0.0", "::"):
        raise ForbiddenError(
            f"refusing to bind {host}: no API keys are configured, so the gateway serves loopback "
            "only; configure RAGTUNE_GATEWAY__API_KEYS or bind 127.0.0.1"
        )
