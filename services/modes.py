"""The answer modes: the one place that says what a mode is.

A mode says whether the prompt carries retrieved document context (``uses_retrieval``) and whether
the answer comes from an adapter (``uses_adapter``); ``auto`` picks one of the others per question.
Everything else (the gateway's planning, the compare view, the CLI, the evaluation, the OpenAPI
schema) reads these traits, so a new mode is one member plus one row of ``_TRAITS`` here and its
prompt in ``services/gateway/prompts.py``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, NamedTuple

from pydantic import AfterValidator, WithJsonSchema

from ragtune.errors import RagtuneError


class Mode(StrEnum):
    """How a question is answered (the value is the wire name)."""

    BASE = "base"
    """The base model alone."""
    RAG = "rag"
    """The base model over retrieved document chunks, citing them."""
    FT = "ft"
    """The fine-tuned adapter alone (the brand voice)."""
    HYBRID = "hybrid"
    """The adapter over retrieved chunks: facts and voice."""
    AUTO = "auto"
    """Documents when retrieval finds something relevant, the adapter when one is available."""

    @property
    def uses_retrieval(self) -> bool:
        """True when the prompt carries retrieved context (``auto`` retrieves to decide)."""
        return _TRAITS[self].retrieval

    @property
    def uses_adapter(self) -> bool:
        """True when the answer needs an adapter (``auto`` uses one only when available)."""
        return _TRAITS[self].adapter

    @property
    def is_answer_mode(self) -> bool:
        """True for the modes an answer is given in (all but ``auto``)."""
        return self is not Mode.AUTO

    @classmethod
    def answer_modes(cls) -> tuple[Mode, ...]:
        """Every mode an answer can run in, in display order (base, rag, ft, hybrid)."""
        return tuple(m for m in cls if m.is_answer_mode)

    @classmethod
    def with_traits(cls, *, retrieval: bool, adapter: bool) -> Mode:
        """The answer mode with these traits (how ``auto`` decides, and error hints)."""
        return next(m for m in cls.answer_modes() if m.uses_retrieval == retrieval and m.uses_adapter == adapter)

    @classmethod
    def lookup(cls, value: str) -> Mode | None:
        """The mode named ``value``, or None (labels that are no mode)."""
        return cls(value) if value in cls._value2member_map_ else None

    @classmethod
    def parse(cls, value: str, *, answer_only: bool = False) -> Mode:
        """``value`` as a Mode, or a RagtuneError naming the choices (CLI and evaluation input)."""
        choices = cls.answer_modes() if answer_only else tuple(cls)
        if value not in choices:
            raise RagtuneError(f"unknown mode '{value}'; choose from {', '.join(choices)}")
        return cls(value)

    def adapter_counterpart(self) -> Mode:
        """The mode that answers like this one but with an adapter (``base`` → ``ft``)."""
        return Mode.with_traits(retrieval=self.uses_retrieval, adapter=True)


class _Traits(NamedTuple):
    retrieval: bool
    adapter: bool


_TRAITS: dict[Mode, _Traits] = {
    Mode.BASE: _Traits(retrieval=False, adapter=False),
    Mode.RAG: _Traits(retrieval=True, adapter=False),
    Mode.FT: _Traits(retrieval=False, adapter=True),
    Mode.HYBRID: _Traits(retrieval=True, adapter=True),
    Mode.AUTO: _Traits(retrieval=True, adapter=False),
}

COMPARE_BASELINE = Mode.RAG
"""The mode the compare view's deltas are measured against (what fine-tuning competes with)."""


def _answer_mode(mode: Mode) -> Mode:
    if not mode.is_answer_mode:
        raise ValueError(f"'{mode}' is not an answer mode; choose from {', '.join(Mode.answer_modes())}")
    return mode


AnswerMode = Annotated[
    Mode,
    AfterValidator(_answer_mode),
    WithJsonSchema({"type": "string", "enum": [m.value for m in Mode.answer_modes()]}),
]
"""A Mode field that refuses ``auto`` (the mode an answer ran in; compare's modes)."""
