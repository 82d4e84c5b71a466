"""Run the gateway with uvicorn: ``serve(settings, host, port)`` (used by ``ragtune serve`` and
``ragtune demo``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.console import console
from ragtune.crypto_home import check_home
from ragtune.keys import KeyRing
from ragtune.settings import Settings
from services.gateway.state import GatewayState
from services.gateway.tenants import check_bind_address
from services.gateway.tls import scheme, uvicorn_tls

if TYPE_CHECKING:
    import uvicorn


def gateway_url(host: str, port: int, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def with_overrides(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    engine_kind: str | None = None,
    engine_url: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> Settings:
    """``settings`` with the command-line choices applied (validated like any other setting)."""
    chosen = (("host", host), ("port", port), ("tls_cert", tls_cert), ("tls_key", tls_key))
    gateway = settings.gateway.model_copy(update={k: v for k, v in chosen if v is not None})
    engine_update: dict = {}
    if engine_kind is not None:
        engine_update["kind"] = engine_kind
    if engine_url is not None:
        engine_update.update(url=engine_url, kind="vllm")
    engine = settings.engine.model_copy(update=engine_update)
    return settings.model_copy(update={"gateway": gateway, "engine": engine})


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the gateway until interrupted; prints the URL once the engine and index are ready.

    Refuses a non-loopback ``host`` when no API keys are configured.
    """
    import uvicorn

    from services.gateway.app import create_app

    settings = with_overrides(settings, host=host, port=port)
    host, port = settings.gateway.host, settings.gateway.port
    check_bind_address(settings.gateway, host, KeyRing.for_settings(settings))
    tls = uvicorn_tls(settings.gateway)
    check_home(settings)  # a missing or wrong encryption key: one line, before anything starts
    settings.ensure_dirs()
    url = gateway_url(host, port, scheme(settings.gateway))

    started: list[GatewayState] = []

    class ReadyServer(uvicorn.Server):
        """Says "ready" once the socket listens (after the engine and index came up) and the
        served adapters' engines were pre-started (``services.gateway.readiness``)."""

        announcing: asyncio.Task | None = None

        async def startup(self, sockets: list | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and started:
                self.announcing = asyncio.create_task(self.announce(started[0]))

        async def announce(self, state: GatewayState) -> None:
            from services.gateway.readiness import not_prestarted, ready_lines, waiting_line

            if (waiting := waiting_line(url, state.engine)) is not None:
                console.print(waiting)
            for line in ready_lines(url, state, await not_prestarted(state.engine)):
                console.print(line)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # one INFO line per engine call is noise (and CPU on the request path); errors still show
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(settings, on_ready=started.append)
    console.print(
        f"starting the gateway on {url} (engine: {settings.engine.kind}"
        f"{' at ' + settings.engine.url if settings.engine.url else ''})…"
    )
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10, **tls)
    from ragtune.running import gateway_marker

    with gateway_marker(settings.home, url):  # `ragtune index search` over this home asks this gateway
        ReadyServer(config).run()


class BackgroundGateway:
    """The gateway served by uvicorn in a background thread (tests, benchmarks, notebooks).

    ``with BackgroundGateway(settings) as gw: httpx.get(gw.url + "/healthz")``; port 0 picks a free
    port. The engine and index are created inside the server's own event loop, as ``serve`` does.
    """

    def __init__(
        self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 600.0
    ) -> None:
        self.settings = with_overrides(settings, host=host, port=port)
        check_bind_address(self.settings.gateway, host, KeyRing.for_settings(self.settings))
        self.start_timeout_s = start_timeout_s
        self.url: str = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundGateway:
        import threading
        import time

        import uvicorn

        from services.gateway.app import create_app

        gateway = self.settings.gateway
        config = uvicorn.Config(
            create_app(self.settings),
            host=gateway.host,
            port=gateway.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
            **uvicorn_tls(gateway),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="ragtune-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the gateway failed to start (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the gateway did not start within {self.start_timeout_s:.0f} s")
            time.sleep(0.05)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = gateway_url(gateway.host, port, scheme(gateway))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._server = self._thread = None

    def __enter__(self) -> BackgroundGateway:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
