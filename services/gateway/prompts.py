"""Mode → chat messages: the question alone, or numbered context chunks plus the question.

Modes that use retrieval (``Mode.uses_retrieval``: ``rag``, ``hybrid``) number each retrieved chunk
``[1]``, ``[2]``… and ask the model to cite those numbers; ``citations.py`` maps them back to their
sources. A mode without retrieval sends the question as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.engines.base import ChatMessage
from services.modes import Mode

RAG_SYSTEM = (
    "You answer questions for the company using only the numbered context passages. "
    "After each fact, cite the passage it comes from with its number in square brackets, "
    "like [1]. If the passages do not contain the answer, say that you don't know."
)


class ContextChunk(Protocol):
    """What a prompt needs from a retrieved chunk (``indexer.SearchHit`` satisfies it)."""

    title: str | None
    section: str | None
    text: str


@dataclass(frozen=True)
class BuiltPrompt:
    """The messages sent to the engine and the pieces whose tokens are accounted separately."""

    messages: list[ChatMessage]
    question: str
    context: str = ""
    """The numbered context block ('' for base/ft)."""
    chunks: list = field(default_factory=list)
    """The chunks in marker order (marker n = chunks[n-1])."""


def format_context(chunks: Sequence[ContextChunk]) -> str:
    """The numbered context block: ``[n] title — section`` then the chunk text, one per chunk."""
    blocks = []
    for number, chunk in enumerate(chunks, start=1):
        heading = " — ".join(part for part in (chunk.title, chunk.section) if part)
        header = f"[{number}] {heading}".rstrip()
        blocks.append(f"{header}\n{chunk.text.strip()}")
    return "\n\n".join(blocks)


def build_prompt(
    mode: Mode | str,
    question: str,
    *,
    history: Sequence[ChatMessage] = (),
    chunks: Sequence[ContextChunk] = (),
    style: str | None = None,
) -> BuiltPrompt:
    """The chat messages for ``mode``.

    ``history`` holds earlier turns (and any caller system message); ``style`` is an optional
    brand-voice instruction, used by retrieval modes without an adapter (an adapter brings its own
    voice).
    """
    mode = Mode(mode)
    question = question.strip()
    if not mode.uses_retrieval:
        messages = [*history, ChatMessage(role="user", content=question)]
        return BuiltPrompt(messages=list(messages), question=question)
    context = format_context(chunks)
    system = RAG_SYSTEM
    if style and not mode.uses_adapter:
        system = f"{system}\n{style.strip()}"
    caller_system = [m for m in history if m.role == "system"]
    turns = [m for m in history if m.role != "system"]
    if caller_system:
        system = "\n".join([system, *(m.content for m in caller_system)])
    user = f"Context:\n{context}\n\nQuestion: {question}"
    messages = [ChatMessage(role="system", content=system), *turns, ChatMessage(role="user", content=user)]
    return BuiltPrompt(messages=messages, question=question, context=context, chunks=list(chunks))
