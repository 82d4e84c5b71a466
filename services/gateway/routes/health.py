"""``GET /healthz`` (engine and index state), ``GET /metrics`` (Prometheus) and ``GET /`` (the page)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, Response

from ragtune.errors import NotFoundError
from services.gateway.routes.deps import get_state
from services.gateway.schemas import HealthResponse
from services.gateway.state import GatewayState

router = APIRouter(tags=["health"])
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@router.get("/healthz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def healthz(state: GatewayState = Depends(get_state)):
    """Engine readiness and index statistics; 503 while either is down."""
    try:
        engine = (await state.engine.health()).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        engine = {"kind": state.engine.kind, "ready": False, "detail": str(exc)}
    if state.store is None:
        index = {"ready": False, "detail": state.store_error}
    else:
        try:
            stats = await state.run_index(state.store.stats)
            index = {"ready": True, **stats.model_dump(mode="json")}
        except Exception as exc:  # noqa: BLE001
            index = {"ready": False, "detail": str(exc)}
    ok = bool(engine.get("ready")) and index["ready"]
    body = HealthResponse(status="ok" if ok else "degraded", engine=engine, index=index,
                          adapters=state.adapters.names())
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
async def metrics(state: GatewayState = Depends(get_state)) -> Response:
    """Prometheus metrics: requests, tokens by kind, latency by stage, cost (by mode and adapter)."""
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


@router.get("/", include_in_schema=False)
async def index_page() -> FileResponse:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        raise NotFoundError("the web page is not installed (services/gateway/static/index.html)")
    return FileResponse(page)
