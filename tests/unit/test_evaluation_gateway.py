"""Finding or starting the gateway: failures are clear one-line errors, fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.evaluation.gateway import GatewayUnavailableError, discover, free_port, wait_ready
from services.evaluation.runner import check_modes

pytestmark = pytest.mark.unit


def test_no_gateway_at_the_url() -> None:
    with pytest.raises(GatewayUnavailableError, match="no gateway answers"):
        discover(f"http://127.0.0.1:{free_port()}", timeout_s=2.0)


def test_a_gateway_process_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("boom: the engine could not start\n")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(GatewayUnavailableError, match=r"exited with code 3(.|\n)*boom"):
        wait_ready(f"http://127.0.0.1:{free_port()}", process, timeout_s=60, log_path=log)


def test_modes_are_checked() -> None:
    assert check_modes(["rag", "base", "rag"]) == ["rag", "base"]
    with pytest.raises(Exception, match="unknown mode"):
        check_modes(["rag", "turbo"])


def test_engine_url_of_a_single_engine_or_a_pool() -> None:
    from services.evaluation.gateway import base_engine_url

    assert base_engine_url({"url": "http://e:1", "base_model": "m"}) == "http://e:1"
    pool = {
        "url": None,
        "base_model": "m",
        "engines": [
            {"name": "merged-voice", "serves": ["voice"], "url": "http://e:3"},
            {"name": "base", "serves": ["m"], "url": "http://e:2"},
        ],
    }
    assert base_engine_url(pool) == "http://e:2"
    assert base_engine_url({"kind": "local", "base_model": "m"}) is None
