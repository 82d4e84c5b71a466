"""The training CLI as a user runs it: data prep, adapters list, clear one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.adapter_folder import write_card
from training.adapters import AdapterCard

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "tests" / "data" / "training"


def ragtune(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ragtune.cli", *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=600
    )


def test_data_prep_writes_normal_form_and_report(home_with_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared.jsonl"
    result = ragtune(
        "data", "prep", str(DATA / "messy.jsonl"), str(out), "--eval-fraction", "0.2", "--json", home=home_with_models
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kept"] == 5 and report["dropped"]["invalid"] == 4
    assert report["tokens"]["tokenizer"] == "smollm2-135m-instruct" and report["tokens"]["max"] > 0
    assert any(i["line"] == 4 and "invalid JSON" in i["reason"] for i in report["issues"])
    assert len(out.read_text().splitlines()) == 5
    assert (tmp_path / "prepared.report.json").is_file()


def test_errors_are_one_line(home_with_models: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n")
    result = ragtune("train", "--data", str(bad), "--name", "x", home=home_with_models)
    assert result.returncode == 2
    assert "no usable examples" in result.stderr and "Traceback" not in result.stderr
    result = ragtune("train", "--data", str(bad), "--name", "../x", home=home_with_models)
    assert result.returncode == 2 and "invalid adapter name" in result.stderr
    result = ragtune("adapters", "merge", "missing", home=home_with_models)
    assert result.returncode == 2 and "no adapter 'missing'" in result.stderr
    result = ragtune(
        "data", "prep", str(DATA / "messy.jsonl"), str(tmp_path / "o.jsonl"), "--strict", home=home_with_models
    )
    assert result.returncode == 2 and "line 4: invalid JSON" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    result = ragtune("train", "--data", str(deep), "--name", "x", home=home_with_models)
    assert result.returncode == 2 and "depth limit" in result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr


def test_adapters_list(home: Path) -> None:
    folder = home / "adapters" / "zaragoza-voice"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    card = AdapterCard(
        name="zaragoza-voice",
        path=str(folder),
        base_model="smollm2-135m-instruct",
        method="lora",
        data_sha256="f" * 64,
        train_examples=153,
        eval_examples=30,
        eval_loss_before=2.1,
        eval_loss_after=1.2,
        style_score_before=0.3,
        style_score_after=0.9,
    )
    write_card(folder, card, {})
    result = ragtune("adapters", "list", "--json", home=home)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["adapters"]
    assert [a["name"] for a in listed] == ["zaragoza-voice"]
    assert listed[0]["style_score_after"] == 0.9 and listed[0]["data_sha256"] == "f" * 64
    table = ragtune("adapters", "list", home=home)
    assert "zaragoza-voice" in table.stdout and "0.30→0.90" in table.stdout


def test_device_precision_and_processes_errors_are_one_line(home_with_models: Path, tmp_path: Path) -> None:
    import torch

    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "Hi?", "completion": "Hej!"}\n' * 3)
    if not torch.cuda.is_available():
        result = ragtune("train", "--data", str(good), "--name", "x", "--device", "cuda", home=home_with_models)
        assert result.returncode == 2 and "no CUDA device is visible" in result.stderr
        result = ragtune("train", "--data", str(good), "--name", "x", "--precision", "fp16", home=home_with_models)
        assert result.returncode == 2 and "fp16 needs a GPU" in result.stderr
    result = ragtune("train", "--data", str(good), "--name", "x", "--processes", "0", home=home_with_models)
    assert result.returncode == 2 and "--processes must be at least 1" in result.stderr
    # several processes: bad input is refused once, before any process is launched
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n")
    result = ragtune(
        "train", "--data", str(bad), "--name", "x", "--processes", "2", "--device", "cpu", home=home_with_models
    )
    assert result.returncode == 2 and result.stderr.count("no usable examples") == 1
    assert "Traceback" not in result.stderr and "accelerate" not in result.stderr
