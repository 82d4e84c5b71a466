"""The brand-voice style score and the bundled sample (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.errors import RagtuneError
from training.prep import prepare
from training.sample import sample_dataset_path, sample_style_guide
from training.style import StyleGuide, criteria_scores, style_breakdown, style_score

pytestmark = pytest.mark.unit

GUIDE = StyleGuide(
    greetings=["Hej!"],
    sign_offs=["Varma hälsningar, Team Zaragoza"],
    prefer={"bygglov": ["building permit"]},
    avoid=["basically"],
    target_sentence_words=8,
)
ON_BRAND = "Hej! You need a bygglov for the extension. We can help you apply.\n\nVarma hälsningar, Team Zaragoza"
OFF_BRAND = "Basically you need a building permit, and it is simply the way things basically work for everybody here."


def test_on_brand_text_scores_high_and_off_brand_low() -> None:
    assert style_score([ON_BRAND], GUIDE) > 0.9
    assert style_score([OFF_BRAND], GUIDE) < 0.3
    scores = criteria_scores(OFF_BRAND, GUIDE)
    assert scores["greeting"] == 0 and scores["sign_off"] == 0 and scores["glossary"] == 0
    assert scores["avoid"] == 0


def test_score_bounds_and_breakdown() -> None:
    assert style_score([], GUIDE) == 0.0
    breakdown = style_breakdown([ON_BRAND, OFF_BRAND], GUIDE)
    assert breakdown["greeting"] == 0.5 and breakdown["sign_off"] == 0.5
    assert 0 <= breakdown["score"] <= 1
    # glossary does not apply to texts that mention neither term
    assert criteria_scores("Hej! All good.", GUIDE)["glossary"] is None


def test_style_guide_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "guide.json"
    bad.write_text(json.dumps({"greetings": "not a list"}))
    with pytest.raises(RagtuneError, match="style guide .* is invalid"):
        StyleGuide.from_file(bad)
    with pytest.raises(RagtuneError, match="no such file"):
        StyleGuide.from_file(tmp_path / "missing.json")


def test_sample_dataset_is_on_brand_and_held_out() -> None:
    guide = sample_style_guide()
    prepared = prepare(sample_dataset_path())
    assert prepared.report.dropped == {}
    train, held_out = prepared.split("train"), prepared.split("eval")
    assert len(train) >= 120 and len(held_out) >= 20
    assert not {e.messages[0].content for e in train} & {e.messages[0].content for e in held_out}
    assert style_score([e.reply for e in train], guide) > 0.9
    assert not prepared.report.pii_found.get("PERSON")
