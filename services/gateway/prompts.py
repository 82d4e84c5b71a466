"""Mode → chat messages, with the shared prompt builder (``ragtune.prompts``).

Modes that use retrieval (``Mode.uses_retrieval``: ``rag``, ``hybrid``) number each retrieved chunk
``[1]``, ``[2]``… and ask the model to cite those numbers; ``citations.py`` maps them back to their
sources. A mode without retrieval sends the question as it is. Training builds context-aware
examples with the same ``ragtune.prompts.build_messages``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragtune.prompts import PROMPT_TEMPLATE, RAG_SYSTEM, BuiltPrompt, ChatMessage, ContextChunk, build_messages
from ragtune.prompts import format_context as format_context
from services.modes import Mode

__all__ = ["PROMPT_TEMPLATE", "RAG_SYSTEM", "BuiltPrompt", "ContextChunk", "build_prompt", "format_context"]


def build_prompt(
    mode: Mode | str,
    question: str,
    *,
    history: Sequence[ChatMessage] = (),
    chunks: Sequence[ContextChunk] = (),
    style: str | None = None,
) -> BuiltPrompt:
    """The chat messages for ``mode`` (see ``ragtune.prompts.build_messages``)."""
    mode = Mode(mode)
    return build_messages(
        question, retrieval=mode.uses_retrieval, adapter=mode.uses_adapter, history=history, chunks=chunks, style=style
    )
