"""``GET/POST /v1/adapters`` and ``DELETE /v1/adapters/{name}``: adapters at run time."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from ragtune.names import NAME_PATTERN
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.audit import record_action
from services.gateway.routes.deps import adapters_caller, chat_caller, get_state
from services.gateway.schemas import AdapterRegisterRequest, AdapterView
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["adapters"])


@router.get("/v1/adapters", response_model=list[AdapterView], responses=ERROR_RESPONSES)
async def list_adapters(tenant: Tenant = Depends(chat_caller), state: GatewayState = Depends(get_state)):
    """Loaded adapters this key may use, with their training cards."""
    return [v for v in state.adapters.views() if state.adapters.may_use(tenant, v.name)]


@router.post("/v1/adapters", response_model=AdapterView, status_code=201, responses=ERROR_RESPONSES)
async def register_adapter(
    body: AdapterRegisterRequest, tenant: Tenant = Depends(adapters_caller), state: GatewayState = Depends(get_state)
) -> AdapterView:
    """Load a peft adapter folder under ``name``: a tenant's key from its own folder
    (RAGTUNE_HOME/tenants/TENANT/adapters/NAME by default); an admin key from the shared folder
    (RAGTUNE_HOME/adapters/NAME by default) or a tenant's, optionally ``shared`` with every key or
    assigned to an ``owner``. Another tenant's adapter or folder: 403."""
    view = await state.adapters.register(body.name, body.path, tenant, shared=body.shared, owner=body.owner)
    await record_action(state, tenant, "adapter.register", body.name, {"path": view.path})
    return view


@router.delete("/v1/adapters/{name}", responses=ERROR_RESPONSES)
async def unload_adapter(
    name: str = Path(pattern=NAME_PATTERN),
    tenant: Tenant = Depends(adapters_caller),
    state: GatewayState = Depends(get_state),
) -> dict[str, str | bool]:
    """Unload an adapter; requests naming it get 404 from now on."""
    await state.adapters.unload(name, tenant)
    await record_action(state, tenant, "adapter.unload", name)
    return {"name": name, "unloaded": True}
