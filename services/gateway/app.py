"""The FastAPI application: ``create_app(settings)``.

The lifespan creates and starts the engine, opens the document index (``ragtune.index.open_store``,
warmed up; the gateway runs without retrieval when it cannot be opened) and the feedback database,
and stops them all again on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ragtune import models as model_store
from ragtune.audit_log import AuditLog
from ragtune.crypto import EncryptionError
from ragtune.crypto_home import check_home
from ragtune.errors import RagtuneError
from ragtune.index import open_store
from ragtune.keys import KeyRing
from ragtune.settings import Settings, get_settings
from services.gateway.accounting import TokenCounter
from services.gateway.adapters import AdapterRegistry
from services.gateway.errors import install_error_handlers
from services.gateway.feedback import FeedbackStore
from services.gateway.kpi_metrics import KpiCollector
from services.gateway.metrics import GatewayMetrics, InFlightMiddleware
from services.gateway.middleware import GatewayMiddleware
from services.gateway.perimeter import PerimeterMiddleware
from services.gateway.pipeline import AnswerPipeline
from services.gateway.ratelimit import RateLimiter
from services.gateway.ratings import RatingStore
from services.gateway.routes import (
    access,
    adapters,
    audit,
    chat,
    documents,
    feedback,
    health,
    openai_compat,
    ratings,
    search,
    web,
)
from services.gateway.state import GatewayState, IndexAccess
from services.gateway.tenants import check_bind_address
from services.improve.exchanges import ExchangeStore

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from indexer.store import DocumentStore

log = logging.getLogger("ragtune.gateway")
FEEDBACK_DB = "feedback.sqlite"


def open_index(settings: Settings) -> tuple[DocumentStore | None, str | None]:
    """The document store (warmed up), or (None, why) when it cannot be opened: the gateway then
    serves the modes without retrieval."""
    try:
        store = open_store(settings)
    except EncryptionError:
        raise  # a missing or wrong key: the gateway refuses to start rather than serve without it
    except (RagtuneError, model_store.ModelNotFoundError, OSError) as exc:
        log.warning("document index unavailable: %s", exc)
        return None, str(exc)
    store.warm_up()
    return store, None


def start_metrics_listener(settings: Settings, metrics: GatewayMetrics) -> WSGIServer | None:
    """``/metrics`` without a key on ``gateway.metrics_host:metrics_port`` (prometheus_client's own
    HTTP server in a thread), for Prometheus inside the cluster; None when no port is set."""
    port = settings.gateway.metrics_port
    if port is None:
        return None
    check_bind_address(settings.gateway, settings.gateway.metrics_host)  # keyless: loopback only
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=settings.gateway.metrics_host, registry=metrics.registry)
    log.info("metrics on http://%s:%d/metrics", settings.gateway.metrics_host, port)
    return server


def create_app(settings: Settings | None = None, *, on_ready: Callable[[GatewayState], None] | None = None) -> FastAPI:
    """The gateway app for ``settings``; ``on_ready(state)`` runs once everything is up."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from services.engines.factory import create_engine

        settings.home.mkdir(parents=True, exist_ok=True)
        data_key = check_home(settings)  # refuse to start, saying why, before any engine starts
        engine = create_engine(settings)
        await engine.start()
        store, store_error = await asyncio.to_thread(open_index, settings)
        index = IndexAccess(store, store_error, settings.index)
        try:
            counter = await asyncio.to_thread(
                TokenCounter.from_model_dir, model_store.resolve(settings.models.generator, settings.models_dir)
            )
            state = GatewayState(
                settings=settings,
                engine=engine,
                counter=counter,
                index=index,
                adapters=AdapterRegistry(
                    engine,
                    settings.adapters_dir,
                    confine_paths=True,
                    allow_failed_audit=settings.audit.allow_failed,
                    tenants_dir=settings.tenants_dir,
                    shared=settings.gateway.shared_adapters,
                ),
                feedback=FeedbackStore(settings.home / FEEDBACK_DB, key=data_key),
                metrics=GatewayMetrics(),
                limiter=RateLimiter.for_redis(settings.redis_url),
                audit=AuditLog.in_home(settings.home),
                keys=KeyRing.for_settings(settings),
            )
            state.exchanges = ExchangeStore(state.feedback, settings)  # kept exchanges (services/improve)
            state.ratings = RatingStore(state.feedback)
            state.metrics.registry.register(KpiCollector(state.feedback, state.ratings))
            app.state.gateway = state
            app.state.pipeline = AnswerPipeline.from_state(state)
            metrics_listener = start_metrics_listener(settings, state.metrics)
            if on_ready is not None:
                on_ready(state)
            try:
                yield
            finally:
                if metrics_listener is not None:
                    metrics_listener.shutdown()
                    metrics_listener.server_close()
                state.feedback.close()
        finally:
            index.close()
            await engine.stop()

    app = FastAPI(
        title="ragtune gateway",
        version="0.1.0",
        summary="Chat over company documents (RAG) and brand-voice adapters, with sources, "
        "latency, tokens and cost per answer.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (chat, openai_compat, adapters, documents, search, feedback, ratings, health, web, audit):
        app.include_router(module.router)
    app.include_router(access.router)
    access.install_role_docs(app)  # "Requires role: …" in each operation of the schema
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(InFlightMiddleware)
    app.add_middleware(GatewayMiddleware, max_body_bytes=settings.gateway.max_body_bytes)
    app.add_middleware(PerimeterMiddleware, settings=settings.gateway, storage_uri=settings.redis_url)  # outermost
    return app
