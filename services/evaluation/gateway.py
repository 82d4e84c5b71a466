"""Finding out what a running gateway serves, or starting one for the run.

``bench`` and ``eval`` talk to the gateway only over HTTP, so they measure what users get. With
no ``--url`` they start ``ragtune serve`` as a child process on a free loopback port, wait until
``/healthz`` says ok, and stop it (its whole process group) when done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field

from ragtune.errors import RagtuneError


class GatewayUnavailableError(RagtuneError):
    """No gateway answers at the URL, or the one started for the run failed."""

    status_code = 503


class GatewayInfo(BaseModel):
    """What the gateway serves, as read from ``/v1/health`` (admin) and ``/v1/models``."""

    url: str
    base_model: str | None = None
    engine_url: str | None = None
    adapters: list[str] = Field(default_factory=list)
    cards: dict[str, dict[str, Any]] = Field(default_factory=dict)


def base_engine_url(engine: dict[str, Any]) -> str | None:
    """The URL of the engine that serves the base model: the engine's own, or, for an engine pool,
    that of its member serving the base model."""
    if engine.get("url"):
        return engine["url"]
    base = engine.get("base_model")
    for member in engine.get("engines") or []:
        if (
            isinstance(member, dict)
            and member.get("url")
            and (member.get("name") == "base" or base in (member.get("serves") or []))
        ):
            return member["url"]
    return None


def discover(url: str, api_key: str | None = None, timeout_s: float = 30.0) -> GatewayInfo:
    """Read the engine URL, base model and adapters (with their training cards) from the gateway."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=timeout_s, headers=headers) as http:
            health = http.get(f"{url}/v1/health")  # the detail (engine URL) needs an admin key
            models = http.get(f"{url}/v1/models")
    except httpx.HTTPError as err:
        raise GatewayUnavailableError(
            f"no gateway answers at {url} ({type(err).__name__}); start one with `ragtune serve` or leave out --url"
        ) from None
    if models.status_code >= 400:
        raise GatewayUnavailableError(f"{url}/v1/models answered HTTP {models.status_code}: {models.text[:200]}")
    engine = (health.json().get("engine") or {}) if health.status_code < 500 else {}
    info = GatewayInfo(url=url, base_model=engine.get("base_model"), engine_url=base_engine_url(engine))
    for entry in models.json().get("data") or []:
        if entry.get("parent"):
            info.adapters.append(entry["id"])
            if entry.get("card"):
                info.cards[entry["id"]] = entry["card"]
        elif info.base_model is None:
            info.base_model = entry.get("id")
    return info


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen | None, timeout_s: float, log_path: Path | None) -> None:
    """Poll ``/healthz`` until it says ok; fail fast if the child process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:] if log_path and log_path.exists() else ""
            raise GatewayUnavailableError(
                f"`ragtune serve` exited with code {process.returncode} before it was ready; log {log_path}:\n{tail}"
            )
        try:
            response = httpx.get(f"{url}/healthz", timeout=5.0)
            if response.status_code == 200 and response.json().get("status") == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1.0)
    raise GatewayUnavailableError(
        f"the gateway at {url} was not ready within {timeout_s:.0f} s" + (f"; log {log_path}" if log_path else "")
    )


def _stop(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def managed_gateway(log_dir: Path, timeout_s: float, extra_args: list[str] | None = None) -> Iterator[str]:
    """Start ``ragtune serve`` on a free loopback port for the duration of the block; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"gateway-{time.strftime('%Y%m%d-%H%M%S')}.log"
    command = [
        sys.executable,
        "-m",
        "ragtune.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *(extra_args or []),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_ready(url, process, timeout_s, log_path)
        yield url
    finally:
        _stop(process)
