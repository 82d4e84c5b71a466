"""Prompt building and citation mapping (no model)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.engines.base import ChatMessage
from services.gateway.citations import build_citations, cited_markers
from services.gateway.prompts import RAG_SYSTEM, build_prompt, format_context

pytestmark = pytest.mark.unit


@dataclass
class Hit:
    doc_id: str
    chunk_id: str
    title: str
    section: str
    source: str
    text: str
    score: float


HITS = [
    Hit("d1", "d1:0", "Warranty", "Roofs", "faq/warranty.md", "Roofs carry a 10-year warranty.", 0.8),
    Hit("d2", "d2:3", "Permits", "", "faq/permits.md", "Permits take 4 weeks.", 0.6),
]


def test_base_and_ft_prompts_carry_only_the_question() -> None:
    for mode in ("base", "ft"):
        prompt = build_prompt(mode, "  How long is the warranty? ", chunks=HITS)
        assert [m.role for m in prompt.messages] == ["user"]
        assert prompt.messages[0].content == "How long is the warranty?"
        assert prompt.context == "" and prompt.chunks == []


def test_rag_prompt_numbers_chunks_and_asks_for_citations() -> None:
    prompt = build_prompt("rag", "How long is the warranty?", chunks=HITS)
    system, user = prompt.messages
    assert system.role == "system" and system.content == RAG_SYSTEM
    assert "[1] Warranty — Roofs\nRoofs carry a 10-year warranty." in user.content
    assert "[2] Permits\nPermits take 4 weeks." in user.content
    assert user.content.endswith("Question: How long is the warranty?")
    assert prompt.context == format_context(HITS)
    assert prompt.chunks == HITS


def test_style_goes_to_rag_only_and_history_is_kept() -> None:
    history = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Hi"),
        ChatMessage(role="assistant", content="Hello!"),
    ]
    rag = build_prompt("rag", "Q?", history=history, chunks=HITS, style="Sign off with 'Cheers'.")
    assert "Cheers" in rag.messages[0].content and "Be brief." in rag.messages[0].content
    assert [m.role for m in rag.messages] == ["system", "user", "assistant", "user"]
    hybrid = build_prompt("hybrid", "Q?", chunks=HITS, style="Sign off with 'Cheers'.")
    assert "Cheers" not in hybrid.messages[0].content
    base = build_prompt("base", "Q?", history=history)
    assert [m.role for m in base.messages] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(
    ("answer", "markers"),
    [
        ("Ten years [1].", [1]),
        ("See [2][1] and [1].", [2, 1]),
        ("Both [1, 2].", [1, 2]),
        ("No markers, [a] or [].", []),
    ],
)
def test_cited_markers(answer: str, markers: list[int]) -> None:
    assert cited_markers(answer) == markers


def test_citations_map_markers_to_sources() -> None:
    citations = build_citations("Roofs: 10 years [1]. Also see [7].", HITS)
    assert [(c.marker, c.doc_id, c.source, c.cited) for c in citations] == [
        (1, "d1", "faq/warranty.md", True),
        (2, "d2", "faq/permits.md", False),
    ]
    assert citations[0].text == HITS[0].text and citations[0].score == pytest.approx(0.8)


@dataclass
class PageHit(Hit):
    page: int | None = None
    page_end: int | None = None


def test_a_pdf_chunk_names_its_page_in_the_context_and_the_citation() -> None:
    hits = [
        PageHit("m", "m:7", "GNU Octave", "5.3.5 Searching", "octave.pdf", "strrep replaces.", 0.7, page=106),
        PageHit("m", "m:8", "GNU Octave", "", "octave.pdf", "Across a page end.", 0.5, page=107, page_end=108),
        PageHit("d", "d:0", "Warranty", "Roofs", "faq.md", "Ten years.", 0.4),
    ]
    assert [block.splitlines()[0] for block in format_context(hits).split("\n\n")] == [
        "[1] GNU Octave — 5.3.5 Searching, p. 106",
        "[2] GNU Octave, pp. 107–108",
        "[3] Warranty — Roofs",
    ]
    citations = build_citations("See [1].", hits)
    assert [(c.page, c.page_end) for c in citations] == [(106, None), (107, 108), (None, None)]
