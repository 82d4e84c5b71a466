"""``ragtune train --with-context`` as a user runs it: one-line errors for bad input, and a tiny
context-aware run over an indexed namespace whose card says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.sample import build_sample_corpus
from ragtune.index import open_store
from ragtune.prompts import PROMPT_TEMPLATE
from ragtune.settings import Settings
from training.sample import sample_dataset_path

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent.parent
TINY = {  # a frugal run: no style score, no early stop, short sequences
    "RAGTUNE_TRAIN__BATCH_SIZE": "2",
    "RAGTUNE_TRAIN__MAX_SEQ_LEN": "512",
    "RAGTUNE_TRAIN__STYLE_PROMPTS": "0",
    "RAGTUNE_TRAIN__WARMUP_RATIO": "0",
    "RAGTUNE_TRAIN__EARLY_STOPPING_PATIENCE": "0",
}


def ragtune(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TINY, "RAGTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ragtune.cli", *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=1800
    )


def _voice_sample(tmp_path: Path) -> tuple[Path, list[str]]:
    lines = sample_dataset_path().read_text(encoding="utf-8").splitlines()
    picked = [line for line in lines if '"split": "train"' in line][:2] + [
        line for line in lines if '"split": "eval"' in line
    ][:1]
    data = tmp_path / "voice.jsonl"
    data.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return data, [json.loads(line)["id"] for line in picked]


def test_with_context_errors_are_one_line(home_with_models: Path, tmp_path: Path) -> None:
    data, _ = _voice_sample(tmp_path)
    cases = [
        (["--with-context", "--index", ""], "invalid namespace"),
        (["--with-context", "--index", "../etc"], "invalid namespace"),
        (["--with-context", "--refusal-share", "1.5"], "--refusal-share must be between 0 and 1"),
        (["--with-context", "--context-k", "0"], "--context-k must be between 1 and 50"),
        (["--index", "docs"], "--index only apply with --with-context"),
        (["--with-context", "--index", "empty"], "the index has no documents in namespace 'empty'"),
    ]
    for flags, message in cases:
        result = ragtune("train", "--data", str(data), "--name", "x", *flags, home=home_with_models)
        assert result.returncode == 2, (flags, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (flags, result.stderr)
    assert not (home_with_models / "adapters" / "x").exists()


def test_with_context_trains_a_context_aware_adapter(home_with_models: Path, tmp_path: Path) -> None:
    data, ids = _voice_sample(tmp_path)
    categories = {i.rsplit("-", 1)[0] for i in ids}
    store = open_store(Settings(home=home_with_models))
    try:
        store.add_paths(
            [p for p in build_sample_corpus(tmp_path / "corpus") if p.stem in categories], namespace="company"
        )
    finally:
        store.close()

    result = ragtune(
        "train",
        "--data",
        str(data),
        "--name",
        "tiny-context",
        "--max-steps",
        "1",
        "--with-context",
        "--index",
        "company",
        "--context-k",
        "3",
        "--refusal-share",
        "0.5",
        "--json",
        home=home_with_models,
    )
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    hp = card["hyperparameters"]
    assert hp["context_aware"] is True
    assert (hp["context_k"], hp["context_refusal_share"], hp["prompt_template"]) == (3, 0.5, PROMPT_TEMPLATE)
    built = (home_with_models / "runs" / "tiny-context-context.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["id"] for line in built) == sorted(ids)
    prompts = [json.loads(line)["messages"][1]["content"] for line in built]
    assert all(p.startswith("Context:\n[1] ") and "[3] " in p and "[4] " not in p for p in prompts)
