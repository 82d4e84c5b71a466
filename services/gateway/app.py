"""The FastAPI application: ``create_app(settings, *, engine=None, store=None)``.

The lifespan starts what the app creates itself (engine, document store, feedback database) and
stops it again; an engine or store passed in belongs to the caller, already started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ragtune import models as model_store
from ragtune.errors import RagtuneError
from ragtune.settings import Settings, get_settings
from services.engines.base import Engine
from services.gateway.accounting import TokenCounter
from services.gateway.adapters import AdapterRegistry
from services.gateway.errors import install_error_handlers
from services.gateway.feedback import FeedbackStore
from services.gateway.metrics import GatewayMetrics
from services.gateway.middleware import GatewayMiddleware
from services.gateway.pipeline import AnswerPipeline
from services.gateway.routes import adapters, chat, documents, feedback, health, openai_compat
from services.gateway.routes.health import STATIC_DIR
from services.gateway.state import GatewayState

log = logging.getLogger("ragtune.gateway")
FEEDBACK_DB = "feedback.sqlite"


def open_store(settings: Settings) -> tuple[Any | None, str | None]:
    """The document store in RAGTUNE_HOME/index, or (None, why) when it cannot be opened."""
    try:
        from indexer import DocumentStore

        embedder = model_store.resolve(settings.models.embedder, settings.models_dir)
        store = DocumentStore.open(settings.index_dir, embedder, settings.index,
                                   read_only=settings.index.read_only)
    except (RagtuneError, model_store.ModelNotFoundError, ImportError, OSError) as exc:
        log.warning("document index unavailable: %s", exc)
        return None, str(exc)
    try:  # load the embedder now, so the first question does not wait for it
        store.embedder.encode(["warm-up"])
    except Exception as exc:  # noqa: BLE001 - a failing embedder shows on the first search instead
        log.warning("embedder warm-up failed: %s", exc)
    return store, None


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    store: Any | None = None,
    token_counter: TokenCounter | None = None,
    on_ready: Callable[[GatewayState], None] | None = None,
) -> FastAPI:
    """The gateway app. ``engine``/``store`` given here must be started and are not stopped."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.home.mkdir(parents=True, exist_ok=True)
        own_engine = engine is None
        if own_engine:
            from services.engines.factory import create_engine

            active_engine = create_engine(settings)
            await active_engine.start()
        else:
            active_engine = engine
        own_store = store is None
        active_store, store_error = (store, None) if store is not None else await asyncio.to_thread(open_store, settings)
        try:
            counter = token_counter or await asyncio.to_thread(
                TokenCounter.from_model_dir, model_store.resolve(settings.models.generator, settings.models_dir))
            state = GatewayState(
                settings=settings, engine=active_engine, counter=counter,
                adapters=AdapterRegistry(active_engine, settings.adapters_dir,
                                         confine_paths=bool(settings.gateway.api_keys),
                                         allow_failed_audit=settings.audit.allow_failed),
                feedback=FeedbackStore(settings.home / FEEDBACK_DB), metrics=GatewayMetrics(),
                store=active_store, store_error=store_error,
            )
            app.state.gateway = state
            app.state.pipeline = AnswerPipeline(state)
            if on_ready is not None:
                on_ready(state)
            try:
                yield
            finally:
                state.feedback.close()
                state.index_executor.shutdown(wait=True)
        finally:
            if own_store and active_store is not None and hasattr(active_store, "close"):
                active_store.close()
            if own_engine:
                await active_engine.stop()

    app = FastAPI(
        title="ragtune gateway",
        version="0.1.0",
        summary="Chat over company documents (RAG) and brand-voice adapters, with sources, "
                "latency, tokens and cost per answer.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (chat, openai_compat, adapters, documents, feedback, health):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(GatewayMiddleware, max_body_bytes=settings.gateway.max_body_bytes)
    return app
