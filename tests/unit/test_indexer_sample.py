"""The sample corpus built from the zaragoza-construction-faq wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.loaders import load_bytes
from indexer.sample import ATTRIBUTION, build_sample_corpus, load_faq
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.unit


def test_one_markdown_document_per_category_with_attribution(tmp_path: Path):
    paths = build_sample_corpus(tmp_path)
    entries = load_faq()
    assert len(paths) == len({e.category for e in entries}) == 39
    assert all(p.suffix == ".md" for p in paths)
    bygglov = (tmp_path / "bygglov.md").read_text()
    assert ATTRIBUTION in bygglov and "## How long does it take to get a building permit?" in bygglov
    (doc,) = load_bytes((tmp_path / "bygglov.md").read_bytes(), "bygglov.md", IndexSettings())
    assert doc.title == "Zaragoza FAQ — Bygglov"
    questions = [e.q for e in entries if e.category == "bygglov"]
    assert [s.title for s in doc.sections][1:] == questions
    assert "Zaragoza AB" in (tmp_path / "NOTICE").read_text()


def test_building_twice_changes_nothing(tmp_path: Path):
    first = build_sample_corpus(tmp_path)
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in first}
    assert build_sample_corpus(tmp_path) == first
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in first} == stamps
