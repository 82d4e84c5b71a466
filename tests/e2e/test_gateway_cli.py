"""``ragtune serve`` / ``ask`` / ``compare`` / ``kpi`` as a user runs them (subprocesses, local engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
RAGTUNE = str(Path(sys.executable).parent / "ragtune")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, serve_gateway, free_port):
    """`ragtune serve --engine local` on a home with two small documents; yields (url, env)."""
    from indexer import DocumentStore
    from ragtune.settings import IndexSettings

    home = tmp_path_factory.mktemp("cli-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    with DocumentStore.open(home / "index", models_dir / "all-minilm-l6-v2", IndexSettings()) as store:
        store.add_bytes(
            "heat-pumps.md",
            b"# Heat pumps\n\nAn air-to-water heat pump costs about 120,000 SEK installed and lasts around 15 years.",
        )
    port = free_port()
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        "RAGTUNE_GATEWAY__DEFAULT_MAX_TOKENS": "8",
    }
    url = f"http://127.0.0.1:{port}"
    command = [RAGTUNE, "serve", "--engine", "local", "--port", str(port)]
    with serve_gateway(command, env, home / "serve.log", url, ready_line="gateway ready"):
        assert url in (home / "serve.log").read_text()  # the ready message names the URL
        yield url, env


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([RAGTUNE, *args], env=env, capture_output=True, text=True, timeout=300)


def test_ask_prints_answer_sources_and_accounting(served) -> None:
    url, env = served
    shown = run("ask", "How much does an air-to-water heat pump cost?", "--mode", "rag", "--url", url, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "heat-pumps.md" in shown.stderr and "tokens: question" in shown.stderr and "cost $" in shown.stderr
    raw = run("ask", "How much does an air-to-water heat pump cost?", "--mode", "rag", "--url", url, "--json", env=env)
    result = json.loads(raw.stdout)
    assert result["mode"] == "rag" and result["citations"][0]["source"] == "heat-pumps.md"
    feedback = httpx.post(url + "/v1/feedback", json={"request_id": result["id"], "rating": 1, "resolved": True})
    assert feedback.status_code == 201
    kpi = run("kpi", "--url", url, "--json", env=env)
    assert json.loads(kpi.stdout)["good_share"] == 1.0
    trend = run("kpi", "--url", url, "--by", "day", "--group", "mode", env=env)
    assert trend.returncode == 0, trend.stderr
    assert "KPIs by day" in trend.stderr and "cost / resolved" in trend.stderr and "rag" in trend.stderr


def test_compare_prints_a_table_of_modes(served) -> None:
    url, env = served
    shown = run("compare", "How long does a heat pump last?", "--url", url, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert [r["mode"] for r in result["results"]] == ["base", "rag"]
    assert set(result["skipped"]) == {"ft", "hybrid"}
    table = run("compare", "How long does a heat pump last?", "--url", url, "--modes", "base,rag", env=env)
    assert table.returncode == 0 and "Δ tokens" in table.stderr


def test_cli_errors_are_one_line(served, free_port) -> None:
    url, env = served
    bad_mode = run("ask", "q", "--mode", "telepathy", "--url", url, env=env)
    assert bad_mode.returncode == 2 and bad_mode.stderr.strip().count("\n") == 0
    no_adapter = run("ask", "q", "--mode", "ft", "--url", url, env=env)
    assert no_adapter.returncode == 2 and "needs an adapter" in no_adapter.stderr
    nobody = run("ask", "q", "--url", f"http://127.0.0.1:{free_port()}", env=env)
    assert nobody.returncode == 2 and "cannot reach the gateway" in nobody.stderr
    exposed = run("serve", "--host", "0.0.0.0", "--engine", "local", env=env)
    assert exposed.returncode == 2 and "loopback" in exposed.stderr
