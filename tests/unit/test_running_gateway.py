"""``ragtune serve`` announces its URL in the home while it runs (what ``index search`` asks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.running import gateway_marker, running_gateway

pytestmark = pytest.mark.unit


def test_marker_lives_as_long_as_the_gateway(tmp_path: Path) -> None:
    assert running_gateway(tmp_path) is None
    with gateway_marker(tmp_path, "http://127.0.0.1:8123"):
        assert running_gateway(tmp_path) == "http://127.0.0.1:8123"
    assert running_gateway(tmp_path) is None


def test_an_older_gateway_leaves_a_newer_ones_marker(tmp_path: Path) -> None:
    with gateway_marker(tmp_path, "http://127.0.0.1:1"):
        with gateway_marker(tmp_path, "http://127.0.0.1:2"):
            pass
        (tmp_path / "run" / "gateway.url").write_text("http://127.0.0.1:3\n")
    assert running_gateway(tmp_path) == "http://127.0.0.1:3"
