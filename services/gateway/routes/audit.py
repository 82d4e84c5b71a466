"""``GET /v1/audit`` (admin): the append-only audit log of administrative actions, and
``record_action``, which the document and adapter routes call after each change."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from ragtune.audit_log import AuditEntry
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.deps import admin_caller, get_state
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["audit"])
log = logging.getLogger("ragtune.gateway")


async def record_action(
    state: GatewayState, tenant: Tenant, action: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Append one action to the audit log (actor: the tenant's name), off the event loop. A write
    that fails is logged as an error; the action it records has already happened."""
    if state.audit is None:
        return
    try:
        await asyncio.to_thread(state.audit.append, tenant.name, action, target, detail)
    except OSError:
        log.exception("could not write the audit log entry %s %s by %s", action, target, tenant.name)


@router.get("/v1/audit", response_model=list[AuditEntry], responses=ERROR_RESPONSES)
async def read_audit(
    since: datetime | None = Query(None, description="Only entries at or after this time (ISO 8601)."),
    action: str | None = Query(None, max_length=64, description="Only actions starting with this, e.g. 'adapter.'."),
    limit: int = Query(100, ge=1, le=10_000, description="The newest this many entries."),
    _: Tenant = Depends(admin_caller),
    state: GatewayState = Depends(get_state),
) -> list[AuditEntry]:
    """Who uploaded or deleted which document and who registered or unloaded which adapter, oldest first."""
    if state.audit is None:
        return []
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return await asyncio.to_thread(state.audit.read, since=since, action=action, limit=limit)
