"""A tiny context-aware training run on the real tiny generator and embedder: the examples carry
the gateway's hybrid prompt over chunks of the indexed sample corpus, and the card says so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from indexer.sample import build_sample_corpus
from ragtune.index import open_store
from ragtune.prompts import PROMPT_TEMPLATE
from ragtune.settings import Settings, TrainSettings
from training.adapter_folder import read_card
from training.context import ContextOptions, is_context_aware, train_with_context
from training.pipeline import TrainRequest
from training.sample import sample_dataset_path

pytestmark = pytest.mark.integration
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_tiny_context_aware_run_writes_a_context_aware_card(tmp_path: Path, models_dir: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    settings = Settings(
        home=home,
        train=TrainSettings(
            batch_size=2, max_seq_len=512, style_prompts=0, warmup_ratio=0.0, early_stopping_patience=0
        ),
    )
    lines = sample_dataset_path().read_text(encoding="utf-8").splitlines()
    train = [line for line in lines if '"split": "train"' in line][:6]
    held = [line for line in lines if '"split": "eval"' in line][:2]
    data = tmp_path / "voice.jsonl"
    data.write_text("\n".join(train + held) + "\n", encoding="utf-8")
    ids = [json.loads(line)["id"] for line in train + held]
    categories = {i.rsplit("-", 1)[0] for i in ids}
    corpus = [p for p in build_sample_corpus(tmp_path / "corpus") if p.stem in categories]
    store = open_store(settings)
    try:
        store.add_paths(corpus)
    finally:
        store.close()

    folder = train_with_context(
        TrainRequest(data=data, name="tiny-context", max_steps=1),
        settings,
        options=ContextOptions(k=3, refusal_share=0.25),
        held_out={ids[0]},
    )

    card = read_card(folder)
    assert is_context_aware(card.model_dump(mode="json"))
    hp = card.hyperparameters
    assert (hp["prompt_template"], hp["context_embedder"], hp["context_k"]) == (
        PROMPT_TEMPLATE,
        settings.models.embedder,
        3,
    )
    assert card.train_examples + card.eval_examples == len(ids) - 1  # the held-out entry never trains
    built = [json.loads(line) for line in (home / "runs" / "tiny-context-context.jsonl").read_text().splitlines()]
    assert ids[0] not in {b["id"] for b in built}
    assert all(
        b["messages"][0]["role"] == "system" and b["messages"][1]["content"].startswith("Context:\n[1] ") for b in built
    )
