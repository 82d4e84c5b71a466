"""Cleaning and de-duplication helpers."""

from __future__ import annotations

import pytest

from indexer.cleaning import clean_text, fix_pdf_text, normalize_text, strip_repeated_lines
from ragtune.neardup import content_hash, duplicate_positions

pytestmark = pytest.mark.unit


def test_normalize_whitespace_and_invisible_characters():
    raw = "Roof\u00a0tiles  and\tgutters\u200b\r\n\r\n\r\n\r\nNext   paragraph \n"
    assert normalize_text(raw) == "Roof tiles and gutters\n\nNext paragraph"


def test_boilerplate_lines_dropped_but_prose_kept():
    raw = "Real content about roofs.\n© 2026 Nordbygg AB\nPage 3 of 10\n- 4 -\nWe accept cookies in prose."
    cleaned = clean_text(raw)
    assert cleaned == "Real content about roofs.\nWe accept cookies in prose."


def test_running_headers_removed_when_on_most_pages():
    pages = [f"ACME manual\nBody text number {i}.\nConfidential" for i in range(4)]
    assert strip_repeated_lines(pages) == [f"Body text number {i}." for i in range(4)]
    assert strip_repeated_lines(pages[:2]) == pages[:2]  # too few pages to tell


def test_pdf_ligature_codes_and_wrapped_lines():
    glyphs = "the \x1clter and air\x1dow, e\x1eciency, o\x1b"
    assert fix_pdf_text(glyphs) == "the filter and airflow, efficiency, off"
    wrapped = "defrosts au-\ntomatically and\nthen drains"
    assert fix_pdf_text(wrapped) == "defrosts automatically and then drains"
    assert fix_pdf_text("First line.\nSecond line") == "First line.\nSecond line"


def test_exact_and_near_duplicates():
    base = (
        "Clean the gutters twice a year, in spring and in autumn after the leaves have fallen. "
        "Blocked gutters overflow onto the facade and the water finds its way into the wall. "
        "Use a stable ladder with a stabiliser, wear gloves and never lean over the edge. "
        "Check the downpipes at the same time and flush them with a garden hose until the "
        "water runs freely. Replace cracked brackets before the winter storms arrive."
    )
    near = base.replace("garden hose", "water hose")
    texts = [base, base.upper() + "  ", near, "Something else entirely about windows."]
    assert content_hash(texts[0]) == content_hash(texts[1])
    assert duplicate_positions(texts, threshold=0.8) == {1, 2}
    assert duplicate_positions(texts, threshold=0.99) == {1}


def test_near_duplicates_among_many_chunks_sharing_boilerplate():
    """Thousands of chunks that all share a boilerplate phrase (the case an inverted index of
    shingles makes quadratic): only the real near-copies are dropped, the earliest one kept."""
    import random

    rng = random.Random(7)
    vocabulary = [f"word{i}" for i in range(3000)]
    boilerplate = "Zaragoza Construction AB internal handbook, revision four, confidential. "
    texts = [boilerplate + " ".join(rng.choice(vocabulary) for _ in range(120)) for _ in range(1500)]
    copies = {1500: 10, 1501: 700}
    for position, original in copies.items():
        words = texts[original].split()
        words[-1] = "changed"
        texts.insert(position, " ".join(words))
    assert duplicate_positions(texts, threshold=0.9) == set(copies)
