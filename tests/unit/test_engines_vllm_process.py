"""VLLMProcess without vLLM: command line, environment, and supervision of stand-in servers.

The stand-ins are real processes (small scripts given as the ``python`` that would run vLLM), so
readiness, crash reporting and group shutdown are exercised for real.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.engines.base import EngineError
from services.engines.vllm_process import (
    VLLMLaunchConfig,
    VLLMProcess,
    all_cores_binding,
    build_command,
    build_env,
    free_port,
)

pytestmark = pytest.mark.unit


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def _live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies awaiting reaping don't count)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


HEALTHY_SERVER = f"""\
    #!{sys.executable}
    import http.server, sys
    port = int(sys.argv[sys.argv.index("--port") + 1])
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
        def log_message(self, *args):
            pass
    print("fake vllm up on", port, flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def test_command_has_lora_and_adapters(model_dir: Path) -> None:
    config = VLLMLaunchConfig(
        model_dir=model_dir,
        served_model_name="base",
        max_loras=3,
        max_lora_rank=16,
        lora_modules={"b": Path("/x/b"), "a": Path("/x/a")},
        extra_args=["--seed", "1"],
    )
    command = build_command(config, 1234)
    assert command[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert command[command.index("--model") + 1] == str(model_dir)
    assert command[command.index("--served-model-name") + 1] == "base"
    assert command[command.index("--port") + 1] == "1234"
    assert "--enable-lora" in command
    assert command[command.index("--max-loras") + 1] == "3"
    assert command[command.index("--max-lora-rank") + 1] == "16"
    start = command.index("--lora-modules") + 1
    assert command[start : start + 2] == ["a=/x/a", "b=/x/b"]
    assert command[-2:] == ["--seed", "1"]


def test_command_without_lora(model_dir: Path) -> None:
    command = build_command(VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", enable_lora=False), 1)
    assert "--enable-lora" not in command and "--lora-modules" not in command
    with pytest.raises(EngineError):
        build_command(
            VLLMLaunchConfig(
                model_dir=model_dir, served_model_name="m", enable_lora=False, lora_modules={"a": Path("/a")}
            ),
            1,
        )


def test_environment(model_dir: Path) -> None:
    env = build_env(
        VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", kv_cache_gib=2, cpu_threads="0-1"),
        base={"PATH": "/bin"},
    )
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["PATH"] == "/bin"
    default = build_env(VLLMLaunchConfig(model_dir=model_dir, served_model_name="m"), base={})
    assert default["VLLM_CPU_OMP_THREADS_BIND"] == all_cores_binding()


def test_all_cores_binding_names_usable_cores() -> None:
    binding = all_cores_binding()
    cores: set[int] = set()
    for part in binding.split(","):
        low, _, high = part.partition("-")
        cores |= set(range(int(low), int(high or low) + 1))
    assert cores == set(os.sched_getaffinity(0))


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    process = VLLMProcess(VLLMLaunchConfig(model_dir=tmp_path, served_model_name="m"), tmp_path / "runs")
    with pytest.raises(EngineError, match="no config.json"):
        process.start()


def test_start_waits_for_health_and_stop_ends_it(tmp_path: Path, model_dir: Path) -> None:
    python = _script(tmp_path, "fake-vllm", HEALTHY_SERVER)
    process = VLLMProcess(
        VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", python=python),
        tmp_path / "runs",
        start_timeout_s=60,
    )
    with process:
        assert process.is_running()
        assert process.url == f"http://127.0.0.1:{process.port}"
        assert process.start_seconds is not None
        pid = process.pid
    assert not process.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    log = process.log_path.read_text()
    assert log.startswith("$ ") and "fake vllm up on" in log
    assert process.log_path.parent == tmp_path / "runs"
    assert process.log_path.name.startswith("vllm-")


def test_crash_during_start_reports_status_and_log(tmp_path: Path, model_dir: Path) -> None:
    python = _script(tmp_path, "crashing-vllm", "#!/bin/sh\necho 'ValueError: unsupported model'\nexit 3\n")
    process = VLLMProcess(
        VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", python=python),
        tmp_path / "runs",
        start_timeout_s=3600,
    )
    with pytest.raises(EngineError) as err:
        process.start()
    assert "exited with status 3" in str(err.value)
    assert "ValueError: unsupported model" in str(err.value)


def test_timeout_stops_the_child(tmp_path: Path, model_dir: Path) -> None:
    python = _script(tmp_path, "silent-vllm", "#!/bin/sh\nexec sleep 600\n")
    process = VLLMProcess(
        VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", python=python),
        tmp_path / "runs",
        start_timeout_s=1,
    )
    with pytest.raises(EngineError, match="did not become healthy"):
        process.start()
    assert not process.is_running()


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path, model_dir: Path) -> None:
    python = _script(tmp_path, "stubborn-vllm", "#!/bin/sh\ntrap '' TERM\necho trapped\nsleep 600 &\nwait\nwait\n")
    process = VLLMProcess(
        VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", python=python), tmp_path / "runs", stop_grace_s=0.5
    )
    process.launch()
    pid = process.pid
    while "trapped" not in process.log_tail():  # SIGTERM is ignored from here on
        time.sleep(0.05)
    process.stop()
    assert process.returncode == -signal.SIGKILL
    assert _live_group_members(pid) == []  # the whole group (the shell and its sleep) is gone
    process.stop()  # idempotent


def test_environment_is_scrubbed_of_ragtune_secrets(model_dir: Path) -> None:
    parent = {
        "PATH": "/bin",
        "HOME": "/root",
        "RAGTUNE_GATEWAY__API_KEYS": '{"sk-client": {"name": "a"}}',
        "RAGTUNE_ENCRYPTION_KEY": "x" * 40,
        "RAGTUNE_ENCRYPTION_KEY_FILE": "/secrets/key",
        "RAGTUNE_REDIS_URL": "redis://:hunter2@cache:6379/0",
        "ragtune_engine__api_key": "lower-case-too",
        "VLLM_API_KEY": "inherited",
    }
    env = build_env(VLLMLaunchConfig(model_dir=model_dir, served_model_name="m"), base=parent)
    assert not [name for name in env if name.upper().startswith("RAGTUNE_")]
    assert "VLLM_API_KEY" not in env  # no key configured: none inherited either
    assert env["PATH"] == "/bin" and env["HOME"] == "/root"
    assert not any(secret in value for value in env.values() for secret in ("sk-client", "hunter2", "x" * 40))


def test_the_child_gets_its_own_key_in_its_environment_not_its_command_line(model_dir: Path) -> None:
    from services.engines.vllm_process import new_api_key

    key = new_api_key()
    assert len(key.get_secret_value()) >= 40 and key.get_secret_value() != new_api_key().get_secret_value()
    config = VLLMLaunchConfig(model_dir=model_dir, served_model_name="m", api_key=key)
    env = build_env(config, base={"VLLM_API_KEY": "inherited"})
    assert env["VLLM_API_KEY"] == key.get_secret_value()
    assert key.get_secret_value() not in " ".join(build_command(config, 1))
    assert key.get_secret_value() not in repr(config)


def test_owned_engines_send_the_key_of_their_child(model_dir: Path, tmp_path: Path) -> None:
    from ragtune.settings import Settings
    from services.engines.factory import _launch_config
    from services.engines.vllm_engine import VLLMEngine

    settings = Settings(home=tmp_path)
    first = _launch_config(settings, model_dir, "m", enable_lora=False, adapters={})
    second = _launch_config(settings, model_dir, "m", enable_lora=False, adapters={})
    assert first.api_key is not None and second.api_key is not None
    assert first.api_key.get_secret_value() != second.api_key.get_secret_value()
    engine = VLLMEngine(served_model_name="m", process=VLLMProcess(first, tmp_path / "runs"))
    assert engine._headers() == {"Authorization": f"Bearer {first.api_key.get_secret_value()}"}
