"""`ragtune models pull` for real: offline, idempotent, verified, usable by transformers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragtune import models

pytestmark = pytest.mark.integration


def test_provisioned_generator_loads_and_answers(generator_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert models.verify(generator_path)
    tokenizer = AutoTokenizer.from_pretrained(generator_path)
    model = AutoModelForCausalLM.from_pretrained(generator_path)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    batch = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**batch, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0][batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_provisioned_embedder_embeds(embedder_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    assert models.verify(embedder_path)
    vectors = SentenceTransformer(str(embedder_path), device="cpu").encode(["building permit"])
    assert vectors.shape == (1, 384)


def test_cli_pull_is_idempotent(home_with_models: Path) -> None:
    env = {**os.environ, "RAGTUNE_HOME": str(home_with_models)}
    before = {p: p.stat().st_mtime for p in (home_with_models / "models").rglob("*.safetensors")}
    result = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "models", "pull"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "already provisioned and verified" in result.stderr or "✓" in result.stderr
    after = {p: p.stat().st_mtime for p in (home_with_models / "models").rglob("*.safetensors")}
    assert before == after  # nothing rewritten


def test_cli_missing_model_is_one_clear_line(home: Path) -> None:
    env = {**os.environ, "RAGTUNE_HOME": str(home), "RAGTUNE_MODELS__EMBEDDER": str(home / "nope")}
    result = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "models", "pull", "gpt-17"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
