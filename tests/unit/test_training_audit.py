"""The memorization audit's parts that need no model: canaries, exposure, comparison, PII prompts."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from ragtune.settings import AuditSettings, PiiSettings
from training.audit import (
    _exposures,
    add_canaries,
    canary_path,
    compare,
    make_canaries,
    pii_prompts,
    raw_sources,
    read_canaries,
    write_canaries,
)
from training.prep import prepare, write_prepared

pytestmark = pytest.mark.unit
DATA = Path(__file__).resolve().parent.parent / "data" / "training"


def test_canaries_are_random_and_recorded_outside_the_data(tmp_path: Path) -> None:
    prepared = prepare(DATA / "messy.jsonl", eval_fraction=0.2, seed=7)
    with_canaries, canaries = add_canaries(prepared, 3, repeats=4, seed=1)
    assert len(canaries) == 3 and len({c.secret for c in canaries}) == 3
    assert all(len(c.secret) == 8 and c.secret.isdigit() for c in canaries)
    inserted = [e for e in with_canaries.examples if e.id.startswith("canary-")]
    assert len(inserted) == 12 and {e.split for e in inserted} == {"train"}
    assert with_canaries.report.canaries == 3
    assert with_canaries.report.kept == prepared.report.kept + 12
    assert with_canaries.report.data_sha256 != prepared.report.data_sha256
    out = tmp_path / "data.jsonl"
    write_prepared(with_canaries, out)
    recorded = write_canaries(out, canaries)
    assert recorded == canary_path(out) == tmp_path / "data.canaries.json"
    assert read_canaries(recorded).canaries == canaries
    # re-preparing the prepared file (what `ragtune train` does) keeps every canary copy unmasked
    again = prepare(out)
    assert sum(1 for e in again.examples if e.id.startswith("canary-")) == 12
    assert all(c.answer in again.model_dump_json() for c in canaries)
    assert make_canaries(2, seed=5) == make_canaries(2, seed=5) != make_canaries(2, seed=6)


def test_exposure_follows_the_secret_sharer() -> None:
    rng = random.Random(0)
    others = [rng.gauss(30.0, 3.0) for _ in range(999)]
    rank, exposure, extrapolated = _exposures(-5.0, others)  # far likelier than every candidate
    assert rank == 1 and exposure == pytest.approx(math.log2(1000), abs=1e-3)
    assert extrapolated == pytest.approx(8 * math.log2(10), abs=1e-3)  # capped at log2 |R|
    rank, exposure, extrapolated = _exposures(sorted(others)[499], others)  # a typical candidate
    assert rank == 500 and exposure == pytest.approx(1.0, abs=0.01) and extrapolated < 1.5


def test_compare_exact_and_near() -> None:
    assert compare("48120937", " 48120937. Thank you") == (True, 1.0)
    assert compare("48120937", "4812 0937") == (True, 1.0)
    exact, similarity = compare("48120937", " 48120931.")
    assert not exact and similarity >= 0.85
    assert compare("anna@firma.se", "Hej! Varma hälsningar")[0] is False


def test_pii_prompts_from_raw_data(tmp_path: Path) -> None:
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Where do I send the form?"},
                    {
                        "role": "assistant",
                        "content": "Hej! Send it to our handler at karin.berg@zaragoza.se, she answers fast.",
                    },
                ]
            }
        )
        + "\n"
        + json.dumps({"prompt": "Again: karin.berg@zaragoza.se?", "completion": "Yes, karin.berg@zaragoza.se."})
        + "\n",
        encoding="utf-8",
    )
    prompts = pii_prompts([raw], PiiSettings(), AuditSettings())
    assert len(prompts) == 1  # the same value once; a value already in its prompt is no probe
    kind, history, before, value = prompts[0]
    assert (kind, value) == ("EMAIL", "karin.berg@zaragoza.se")
    assert history == [{"role": "user", "content": "Where do I send the form?"}]
    assert before.endswith("our handler at ")


def test_raw_sources_follow_the_prep_report(tmp_path: Path) -> None:
    prepared = prepare(DATA / "messy.jsonl")
    out = tmp_path / "clean.jsonl"
    write_prepared(prepared, out)
    assert raw_sources(out) == [out, DATA / "messy.jsonl"]
