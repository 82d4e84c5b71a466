"""The vLLM supervisor with a real vLLM that crashes during start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.engines.base import EngineError

pytestmark = pytest.mark.integration


def test_a_server_that_crashes_during_start_fails_fast(tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    process = VLLMProcess(
        VLLMLaunchConfig(model_dir=broken, served_model_name="broken"), tmp_path / "runs", start_timeout_s=3600
    )
    with pytest.raises(EngineError, match="exited with status") as err:
        process.start()
    assert str(process.log_path) in str(err.value)
    assert process.log_path.is_file()
    process.stop()
