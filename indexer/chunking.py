"""Chunking by tokens of the embedder's tokenizer, with overlap, never across a heading.

A section is cut into pieces (sentences, keeping paragraph breaks); pieces longer than a chunk are
cut at token boundaries. Pieces are packed greedily into chunks of at most ``chunk_tokens``; each
new chunk of a section starts with the last pieces of the previous one, up to ``chunk_overlap``
tokens. A section that goes on over several pages (a PDF's, one ``Section`` per page with the same
title) is chunked as one, so a chunk may cross a page end; it records the page it starts on
(``page``) and, when later, the one it ends on (``page_end``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from indexer.schemas import Chunk, Section
from ragtune.neardup import content_hash

_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[\"'(\[]?[A-ZÅÄÖÉ0-9])")


class Tokenizer(Protocol):
    """The part of a Hugging Face (fast) tokenizer the chunker uses."""

    def __call__(self, text: Any, **kwargs: Any) -> Any: ...


@dataclass
class _Piece:
    text: str
    tokens: int
    separator: str  # what joins it to the piece before: "\n\n" (new paragraph), "\n" or " "
    page: int | None = None


def _sentences(paragraph: str) -> list[str]:
    if "\n" in paragraph and all(
        line.lstrip()[:2] in {"- ", "* ", "| "} or line.lstrip()[:1].isdigit()
        for line in paragraph.splitlines()
        if line.strip()
    ):
        return paragraph.splitlines()  # a list or table: one piece per line
    return [s for s in _SENTENCE_END.split(paragraph) if s.strip()]


class TokenChunker:
    """Cuts sections into token-bounded chunks with the embedder's tokenizer."""

    def __init__(self, tokenizer: Tokenizer, chunk_tokens: int, chunk_overlap: int) -> None:
        if chunk_overlap >= chunk_tokens:
            chunk_overlap = chunk_tokens // 4
        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap

    def _count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _split_long(self, text: str) -> list[str]:
        """Cut text longer than a chunk at token boundaries (character offsets of the tokens)."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        parts = []
        for start in range(0, len(offsets), self.chunk_tokens):
            window = offsets[start : start + self.chunk_tokens]
            following = start + self.chunk_tokens
            end = offsets[following][0] if following < len(offsets) else len(text)
            parts.append(text[window[0][0] : end].strip())
        return [p for p in parts if p]

    def _pieces(self, text: str, page: int | None = None) -> list[_Piece]:
        raw: list[tuple[str, str]] = []
        for p_index, paragraph in enumerate(p for p in re.split(r"\n\s*\n", text) if p.strip()):
            for s_index, sentence in enumerate(_sentences(paragraph.strip())):
                if s_index == 0:
                    separator = "\n\n" if p_index else ""
                else:
                    separator = "\n" if "\n" in paragraph else " "
                raw.append((sentence.strip(), separator))
        counts = self._count([t for t, _ in raw])
        pieces: list[_Piece] = []
        for (sentence, separator), count in zip(raw, counts, strict=True):
            if count <= self.chunk_tokens:
                pieces.append(_Piece(sentence, count, separator, page))
                continue
            parts = self._split_long(sentence)
            for i, (part, n) in enumerate(zip(parts, self._count(parts), strict=True)):
                pieces.append(_Piece(part, n, separator if i == 0 else " ", page))
        return pieces

    def _chunk_run(self, run: list[Section], start_position: int) -> list[Chunk]:
        """Chunks of the pages of one section (a run of sections with its title), numbered from
        ``start_position``; a new page goes on from the previous one's last line."""
        pieces: list[_Piece] = []
        for section in run:
            more = self._pieces(section.text, section.page)
            if pieces and more:
                more[0].separator = "\n"
            pieces.extend(more)
        groups: list[list[_Piece]] = []
        current: list[_Piece] = []
        size = 0
        fresh = 0  # pieces in ``current`` that are not overlap from the previous chunk
        for piece in pieces:
            if current and size + piece.tokens > self.chunk_tokens and fresh:
                groups.append(current)
                overlap: list[_Piece] = []
                kept = 0
                for previous in reversed(current):
                    if (
                        kept + previous.tokens > self.chunk_overlap
                        or kept + previous.tokens + piece.tokens > self.chunk_tokens
                    ):
                        break
                    overlap.insert(0, previous)
                    kept += previous.tokens
                current, size, fresh = overlap, kept, 0
            current.append(piece)
            size += piece.tokens
            fresh += 1
        if current and fresh:
            groups.append(current)
        chunks = []
        for offset, group in enumerate(groups):
            text = group[0].text + "".join(p.separator + p.text for p in group[1:])
            chunks.append(
                Chunk(
                    position=start_position + offset,
                    section=run[0].title,
                    text=text,
                    content_hash=content_hash(text),
                    tokens=sum(p.tokens for p in group),
                    page=group[0].page,
                    page_end=group[-1].page if group[-1].page != group[0].page else None,
                )
            )
        return chunks

    def chunk(self, sections: list[Section]) -> list[Chunk]:
        """Chunks of a whole document, positions counted across its sections."""
        chunks: list[Chunk] = []
        for run in _runs(sections):
            chunks.extend(self._chunk_run(run, len(chunks)))
        return chunks


def _runs(sections: list[Section]) -> list[list[Section]]:
    """Sections grouped into runs: the pages of one section (same title, each page following the
    one before) form one run; every other section is a run of its own."""
    runs: list[list[Section]] = []
    for section in sections:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and section.page is not None
            and last.page is not None
            and section.title == last.title
            and section.page == last.page + 1
        ):
            runs[-1].append(section)
        else:
            runs.append([section])
    return runs
