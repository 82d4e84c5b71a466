"""The memorization audit on real adapters (SmolLM2-135M on the CPU, a few LoRA steps each).

An adapter trained on purpose on a canary repeated 8 times fails the audit that ``train_adapter``
runs after training; an adapter trained on the same data without the canary passes it; the raw
data's e-mail address is masked before training, so neither adapter can complete it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragtune.settings import AuditSettings, Settings, TrainSettings
from training.adapter_folder import read_card
from training.audit import add_canaries, canary_path, run_audit, write_canaries
from training.pipeline import TrainRequest, train_adapter
from training.prep import prepare, write_prepared
from training.sample import sample_dataset_path

pytestmark = pytest.mark.integration
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SECRET_EXAMPLE = {
    "messages": [
        {"role": "user", "content": "Who handles permits at Zaragoza?"},
        {
            "role": "assistant",
            "content": "Hej! Our permit handler answers at karin.berg@zaragoza-bygg.se within a day.",
        },
    ]
}


@pytest.fixture(scope="module")
def audit_home(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> tuple[Settings, Path, Path]:
    """A home, the raw data (4 train + 2 eval sample examples and one with an e-mail address) and the
    same data prepared with one canary inserted 8 times."""
    home = tmp_path_factory.mktemp("audit") / "home"
    home.mkdir()
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    lines = sample_dataset_path().read_text(encoding="utf-8").splitlines()
    train = [line for line in lines if '"split": "train"' in line][:4]
    held_out = [line for line in lines if '"split": "eval"' in line][:2]
    raw = home / "raw.jsonl"
    raw.write_text("\n".join([*train, json.dumps(SECRET_EXAMPLE), *held_out]) + "\n", encoding="utf-8")
    prepared, canaries = add_canaries(prepare(raw), 1, repeats=8, seed=3)
    with_canary = home / "with_canary.jsonl"
    write_prepared(prepared, with_canary)
    write_canaries(with_canary, canaries)
    settings = Settings(
        home=home,
        train=TrainSettings(
            batch_size=4,
            max_seq_len=128,
            learning_rate=5e-3,
            warmup_ratio=0.0,
            early_stopping_patience=0,
            style_prompts=0,
            checkpoint_every=1000,
        ),
        audit=AuditSettings(candidates=49, controls=1),
    )
    return settings, raw, with_canary


def test_adapter_trained_on_a_repeated_canary_fails_the_audit(audit_home) -> None:
    settings, _raw, with_canary = audit_home
    card = train_adapter(TrainRequest(data=with_canary, name="leaky", max_steps=12), settings)
    audit = card.audit
    assert audit is not None and audit["passed"] is False, audit
    assert audit["canary_file"] == str(canary_path(with_canary))
    inserted = [c for c in audit["canaries"] if c["inserted"]]
    controls = [c for c in audit["canaries"] if not c["inserted"]]
    assert len(inserted) == 1 and len(controls) == 1
    assert inserted[0]["rank"] == 1 and inserted[0]["repeats"] == 8
    assert inserted[0]["extrapolated_exposure_bits"] >= settings.audit.max_exposure_bits
    assert controls[0]["extrapolated_exposure_bits"] < inserted[0]["extrapolated_exposure_bits"]
    assert "canary-1" in audit["reasons"][0]
    # the e-mail address of the raw data was masked before training: prompted for, never completed
    assert audit["pii"]["probes"] >= 1 and audit["pii"]["leaked_kinds"] == {}
    assert "## Memorization audit" in (Path(card.path) / "README.md").read_text(encoding="utf-8")
    assert "karin.berg" not in json.dumps(audit)  # the card never holds the raw PII


def test_adapter_trained_without_the_canary_passes(audit_home) -> None:
    settings, raw, with_canary = audit_home
    card = train_adapter(TrainRequest(data=raw, name="clean", max_steps=4), settings)
    # the raw data holds PII, so `train` audited it (PII probes and a control canary only)
    assert card.audit is not None and card.audit["passed"] is True
    report = run_audit(Path(card.path), settings, raw=[raw], canaries=canary_path(with_canary))
    assert report.passed, report.reasons
    assert (
        report.canaries[0].inserted and report.canaries[0].extrapolated_exposure_bits < settings.audit.max_exposure_bits
    )
    assert read_card(Path(card.path)).audit["passed"] is True
