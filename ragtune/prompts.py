"""The one prompt builder: the question alone, or numbered context chunks plus the question.

Shared by the gateway (``services.gateway.prompts`` builds every answer's prompt with it) and
training (context-aware examples are built with it), so an adapter trains on exactly the prompts it
is served: same system text, template, source numbering. With retrieval each chunk is numbered
``[1]``, ``[2]``… and the model is asked to cite those numbers; without, the question goes as it is.
``PROMPT_TEMPLATE`` names this template; an adapter card records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel

PROMPT_TEMPLATE = "ragtune-rag-v1"
"""The name of this prompt template (change it whenever the text or layout below changes)."""


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[dict[str, Any]] | None = None
    """An assistant turn's function calls (OpenAI shape), replayed to the model."""
    tool_call_id: str | None = None
    """A ``tool`` turn: the call it answers."""


RAG_SYSTEM = (
    "You answer questions for the company using only the numbered context passages. "
    "After each fact, cite the passage it comes from with its number in square brackets, "
    "like [1]. If the passages do not contain the answer, say that you don't know."
)


class ContextChunk(Protocol):
    """What a prompt needs from a retrieved chunk (``indexer.SearchHit`` satisfies it; read-only, so
    a chunk whose title is always a ``str`` fits too)."""

    @property
    def title(self) -> str | None: ...

    @property
    def section(self) -> str | None: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class BuiltPrompt:
    """The messages sent to the engine and the pieces whose tokens are accounted separately."""

    messages: list[ChatMessage]
    question: str
    context: str = ""
    """The numbered context block ('' for base/ft)."""
    chunks: list = field(default_factory=list)
    """The chunks in marker order (marker n = chunks[n-1])."""


def page_label(page: int | None, page_end: int | None = None) -> str:
    """``p. 12``, ``pp. 12–13`` or '' (no page)."""
    if page is None:
        return ""
    return f"pp. {page}–{page_end}" if page_end is not None and page_end != page else f"p. {page}"


def format_context(chunks: Sequence[ContextChunk]) -> str:
    """The numbered context block: ``[n] title — section`` (``, p. N`` or ``, pp. N–M`` for a PDF's
    pages) then the chunk text, one per chunk."""
    blocks = []
    for number, chunk in enumerate(chunks, start=1):
        heading = " — ".join(part for part in (chunk.title, chunk.section) if part)
        pages = page_label(getattr(chunk, "page", None), getattr(chunk, "page_end", None))
        if pages:
            heading = f"{heading}, {pages}" if heading else pages
        header = f"[{number}] {heading}".rstrip()
        blocks.append(f"{header}\n{chunk.text.strip()}")
    return "\n\n".join(blocks)


def build_messages(
    question: str,
    *,
    retrieval: bool,
    adapter: bool,
    history: Sequence[ChatMessage] = (),
    chunks: Sequence[ContextChunk] = (),
    style: str | None = None,
) -> BuiltPrompt:
    """The chat messages for a question, with numbered ``chunks`` when ``retrieval``.

    ``history`` holds earlier turns (and any caller system message); ``style`` is an optional
    brand-voice instruction, used with retrieval but no ``adapter`` (an adapter brings its own voice).
    """
    question = question.strip()
    if not retrieval:
        messages = [*history, ChatMessage(role="user", content=question)]
        return BuiltPrompt(messages=list(messages), question=question)
    context = format_context(chunks)
    system = RAG_SYSTEM
    if style and not adapter:
        system = f"{system}\n{style.strip()}"
    caller_system = [m for m in history if m.role == "system"]
    turns = [m for m in history if m.role != "system"]
    if caller_system:
        system = "\n".join([system, *(m.content for m in caller_system)])
    user = f"Context:\n{context}\n\nQuestion: {question}"
    messages = [ChatMessage(role="system", content=system), *turns, ChatMessage(role="user", content=user)]
    return BuiltPrompt(messages=messages, question=question, context=context, chunks=list(chunks))
