"""``GET /healthz`` (engine and index state) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from services.gateway.routes.deps import get_state
from services.gateway.schemas import HealthResponse
from services.gateway.state import GatewayState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def healthz(state: GatewayState = Depends(get_state)):
    """Engine readiness and index statistics; 503 while either is down."""
    try:
        engine = (await state.engine.health()).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        engine = {"kind": state.engine.kind, "ready": False, "detail": str(exc)}
    store = state.index.store
    if store is None:
        index = {"ready": False, "detail": state.index.error}
    else:
        try:
            stats = await state.index.run(store.stats)
            index = {"ready": True, **stats.model_dump(mode="json")}
        except Exception as exc:  # noqa: BLE001
            index = {"ready": False, "detail": str(exc)}
    ok = bool(engine.get("ready")) and index["ready"]
    body = HealthResponse(
        status="ok" if ok else "degraded", engine=engine, index=index, adapters=state.adapters.names()
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
async def metrics(state: GatewayState = Depends(get_state)) -> Response:
    """Prometheus metrics: requests, tokens by kind, latency by stage, cost (by mode and adapter)."""
    return Response(state.metrics.render(), media_type=state.metrics.content_type)
