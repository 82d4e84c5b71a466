"""Map the ``[n]`` markers of an answer to the numbered chunks its prompt carried."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from services.gateway.schemas import Citation

_MARKER_GROUP = re.compile(r"\[(\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*)\]")


def cited_markers(answer: str) -> list[int]:
    """The distinct marker numbers in ``answer`` in order of first appearance.

    Understands ``[1]``, ``[1][2]`` and ``[1, 2]``.
    """
    seen: list[int] = []
    for group in _MARKER_GROUP.finditer(answer):
        for number in re.split(r"[,;]", group.group(1)):
            value = int(number)
            if value not in seen:
                seen.append(value)
    return seen


def build_citations(answer: str, chunks: Sequence[Any]) -> list[Citation]:
    """One citation per context chunk shown to the model (marker n = ``chunks[n-1]``).

    Every chunk in the prompt is a source the answer used, so all are returned, in marker order;
    ``cited`` tells which ones the answer names with ``[n]``. Markers beyond the chunks are ignored.
    """
    named = set(cited_markers(answer))
    return [
        Citation(
            marker=number,
            doc_id=str(chunk.doc_id),
            chunk_id=str(chunk.chunk_id),
            title=getattr(chunk, "title", None),
            section=getattr(chunk, "section", None),
            source=None if getattr(chunk, "source", None) is None else str(chunk.source),
            page=getattr(chunk, "page", None),
            page_end=getattr(chunk, "page_end", None),
            text=chunk.text,
            score=float(chunk.score),
            dense_score=getattr(chunk, "dense_score", None),
            cited=number in named,
        )
        for number, chunk in enumerate(chunks, start=1)
    ]
