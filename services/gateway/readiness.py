"""What ``ragtune serve`` says when it is ready: it waits for the engines it pre-starts (the served
adapters' own engines, ``engine.prestart_served``), then prints one ready line and, one line each,
the adapters whose engine it could not pre-start and why, so that "ready" means a served adapter's
first request starts no engine.
"""

from __future__ import annotations

from services.engines.base import Engine
from services.gateway.state import GatewayState


async def not_prestarted(engine: Engine) -> dict[str, str]:
    """Wait for the engine's pre-starts (an engine pool); the adapters it could not pre-start,
    with why. Engines without pre-starts (single, local, external) have nothing to wait for."""
    wait = getattr(engine, "prestarted", None)
    return await wait() if callable(wait) else {}


def waiting_line(url: str, engine: Engine) -> str | None:
    """What to say while pre-starts run (the socket already listens; /healthz says 503)."""
    starting = list(getattr(engine, "prestarting", None) or [])
    if not starting:
        return None
    return f"listening at {url}; starting the engines of {', '.join(starting)} before saying ready…"


def ready_lines(url: str, state: GatewayState, missing: dict[str, str]) -> list[str]:
    """The ready line (URL, engine, adapters, index), then one line per adapter not pre-started."""
    adapters = ", ".join(state.adapters.names()) or "none"
    index = "ready" if state.index.store is not None else f"unavailable ({state.index.error})"
    lines = [
        f"[green]ragtune gateway ready[/] at [bold]{url}[/]  engine {state.engine.kind} "
        f"({state.engine.base_model}), adapters: {adapters}, index: {index}"
        + (f"; {len(missing)} adapter engine(s) not pre-started:" if missing else "")
    ]
    lines += [f"  [yellow]not pre-started[/] {name}: {why}" for name, why in sorted(missing.items())]
    return lines
