"""``GET /healthz`` (liveness and readiness, public), ``GET /v1/health`` (the detail: engine,
index statistics, adapters; admin) and ``GET /metrics`` (Prometheus; admin, or without a key on the
separate ``gateway.metrics_port`` listener)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from ragtune.settings import Role
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.deps import admin_caller, get_state
from services.gateway.schemas import ComponentReady, HealthResponse, HealthStatus
from services.gateway.state import GatewayState
from services.gateway.tenants import Tenant

router = APIRouter(tags=["health"])


async def health_detail(state: GatewayState) -> HealthResponse:
    """Engine health, index statistics and loaded adapters."""
    try:
        engine: dict[str, Any] = (await state.engine.health()).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        engine = {"kind": state.engine.kind, "ready": False, "detail": str(exc)}
    store = state.index.store
    if store is None:
        index: dict[str, Any] = {"ready": False, "detail": state.index.error}
    else:
        try:
            stats = await state.index.run(store.stats)
            index = {"ready": True, **stats.model_dump(mode="json")}
        except Exception as exc:  # noqa: BLE001
            index = {"ready": False, "detail": str(exc)}
    ok = bool(engine.get("ready")) and bool(index["ready"])
    return HealthResponse(
        status="ok" if ok else "degraded", engine=engine, index=index, adapters=state.adapters.names()
    )


@router.get("/healthz", response_model=HealthStatus, responses={503: {"model": HealthStatus}})
async def healthz(
    request: Request,
    detail: bool = Query(False, description="With an admin key: the detail of GET /v1/health (else ignored)."),
    state: GatewayState = Depends(get_state),
):
    """Liveness and readiness (503 while the engine or the index is down); no paths, URLs,
    namespaces or adapters: those are ``GET /v1/health``'s, for admins (``detail=true`` with an
    admin key answers the same; with any other caller it is ignored)."""
    tenant = getattr(request.state, "tenant", None)  # set by the perimeter when a key was sent
    detail = detail and isinstance(tenant, Tenant) and tenant.has(Role.ADMIN)
    body = await health_detail(state)
    code = 200 if body.status == "ok" else 503
    if detail:
        return JSONResponse(body.model_dump(mode="json"), status_code=code)
    summary = HealthStatus(
        status=body.status,
        ready=body.status == "ok",
        engine=ComponentReady(ready=bool(body.engine.get("ready"))),
        index=ComponentReady(ready=bool(body.index.get("ready"))),
    )
    return JSONResponse(summary.model_dump(mode="json"), status_code=code)


@router.get("/v1/health", response_model=HealthResponse, responses={**ERROR_RESPONSES, 503: {"model": HealthResponse}})
async def health(_: Tenant = Depends(admin_caller), state: GatewayState = Depends(get_state)):
    """Engine readiness and URLs, index statistics (namespaces, document counts) and adapters;
    503 while the engine or the index is down."""
    body = await health_detail(state)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.status == "ok" else 503)


@router.get("/metrics", response_class=Response, responses=ERROR_RESPONSES)
async def metrics(_: Tenant = Depends(admin_caller), state: GatewayState = Depends(get_state)) -> Response:
    """Prometheus metrics: requests, tokens by kind, latency by stage, cost (by mode and adapter)."""
    return Response(state.metrics.render(), media_type=state.metrics.content_type)
