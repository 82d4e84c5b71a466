"""``ragtune serve`` with owned vLLM engines: "ready" comes after the served adapters' engines were
pre-started, the ready output names (one line each) the adapters it could not pre-start, and a
served adapter's first request starts no engine. Costs two vLLM starts (base + one merged)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
RAGTUNE = str(Path(sys.executable).parent / "ragtune")


def _engine_logs(home: Path) -> list[str]:
    """One vLLM log file per engine start (``VLLMProcess``)."""
    return sorted(p.name for p in home.rglob("vllm-*.log"))


def test_ready_means_the_served_adapters_engines_run(
    tmp_path: Path, models_dir: Path, tiny_adapter: Path, serve_gateway, free_port
) -> None:
    pytest.importorskip("vllm")
    home = tmp_path / "home"
    (home / "adapters").mkdir(parents=True)
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    for name in ("voice-a", "voice-b"):
        shutil.copytree(tiny_adapter, home / "adapters" / name)
        card = home / "adapters" / name / "adapter_card.json"
        if card.is_file():
            card.write_text(json.dumps({**json.loads(card.read_text()), "name": name}))
    port = free_port()
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        "RAGTUNE_ENGINE__KIND": "vllm",
        "RAGTUNE_ENGINE__ADAPTER_STRATEGY": "merged",
        "RAGTUNE_ENGINE__MAX_ENGINES": "2",  # the base engine + one merged: voice-b does not fit
        "RAGTUNE_ENGINE__COMPILE": "false",
        "RAGTUNE_ENGINE__MAX_MODEL_LEN": "1024",
    }
    url = f"http://127.0.0.1:{port}"
    log = home / "serve.log"
    command = [RAGTUNE, "serve", "--port", str(port)]
    with serve_gateway(command, env, log, url, timeout_s=900, ready_line="gateway ready"):
        said = log.read_text()
        said = said[said.index("gateway ready") :]
        assert "1 adapter engine(s) not pre-started" in " ".join(said.split())  # the console may wrap
        missing = [line for line in said.splitlines() if line.strip().startswith("not pre-started")]
        assert len(missing) == 1 and "voice-b:" in missing[0] and "max_engines=2" in missing[0]

        engines = {e["name"]: e for e in httpx.get(f"{url}/v1/health", timeout=30).json()["engine"]["engines"]}
        assert engines["merged:voice-a"]["state"] == "ready"
        started = _engine_logs(home)
        assert len(started) == 2  # base + voice-a, both before "ready"

        answer = httpx.post(
            f"{url}/v1/chat",
            json={"question": "Say hello.", "mode": "ft", "adapter": "voice-a", "max_tokens": 4},
            timeout=300,
        )
        assert answer.status_code == 200, answer.text
        assert _engine_logs(home) == started  # the first request started no engine
        engines = {e["name"]: e for e in httpx.get(f"{url}/v1/health", timeout=30).json()["engine"]["engines"]}
        assert engines["merged:voice-a"]["state"] == "ready" and engines["merged:voice-a"]["restarts"] == 0
