"""Chunking by the embedder's own tokenizer: size bound, overlap, headings, long sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.chunking import TokenChunker
from indexer.embedder import Embedder
from indexer.schemas import Section

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tokenizer(embedder_path: Path):
    return Embedder(embedder_path).tokenizer


def count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_chunks_respect_size_overlap_and_sections(tokenizer):
    sentences = [f"Sentence number {i} explains how the roof battens of house {i} were replaced." for i in range(40)]
    body = "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, 40, 4))
    chunker = TokenChunker(tokenizer, chunk_tokens=60, chunk_overlap=20)
    chunks = chunker.chunk([Section(title="Roof", text=body), Section(title="Windows", text="Short one.")])
    assert [c.position for c in chunks] == list(range(len(chunks)))
    roof = [c for c in chunks if c.section == "Roof"]
    assert len(roof) > 5 and chunks[-1].section == "Windows" and chunks[-1].text == "Short one."
    for chunk in roof:
        assert count(tokenizer, chunk.text) <= 60 + 4  # joining pieces may merge a token or two
    for before, after in zip(roof, roof[1:], strict=False):
        last_sentence = before.text.split(". ")[-1].split("\n")[-1]
        assert last_sentence.rstrip(".") in after.text  # the overlap carries the last sentence
    text = " ".join(c.text for c in roof)
    assert all(s.rstrip(".") in text for s in sentences)  # nothing lost


def test_a_sentence_longer_than_a_chunk_is_cut_at_tokens(tokenizer):
    long_sentence = " ".join(f"word{i}" for i in range(400))
    chunks = TokenChunker(tokenizer, chunk_tokens=50, chunk_overlap=10).chunk([Section(text=long_sentence)])
    assert len(chunks) >= 8
    assert all(c.tokens <= 50 for c in chunks)
    assert "word0" in chunks[0].text and "word399" in chunks[-1].text


def test_a_section_over_several_pages_is_chunked_as_one_and_chunks_know_their_start_page(tokenizer):
    sentences = [f"Step {i} of the filter change is described here in words." for i in range(12)]
    pages = [
        Section(title="Filters", text=" ".join(sentences[:5]), page=7),
        Section(title="Filters", text=" ".join(sentences[5:]), page=8),
        Section(title="Alarms", text="Alarm A3 means a faulty sensor.", page=8),
        Section(title="page 20", text="Loose page.", page=20),
    ]
    chunks = TokenChunker(tokenizer, chunk_tokens=80, chunk_overlap=0).chunk(pages)
    filters = [c for c in chunks if c.section == "Filters"]
    crossing = next(c for c in filters if "Step 4 " in c.text)
    assert "Step 5 " in crossing.text and (crossing.page, crossing.page_end) == (7, 8)  # across the page end
    assert (filters[-1].page, filters[-1].page_end) == (8, None) and "Step 11 " in filters[-1].text
    assert [(c.section, c.page) for c in chunks[len(filters) :]] == [("Alarms", 8), ("page 20", 20)]
