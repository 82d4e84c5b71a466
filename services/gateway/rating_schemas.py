"""Pydantic models of the blind rating routes (``/v1/ratings/...``).

What a rater receives before judging (``BlindTask``) carries only opaque ids and the texts: no mode,
adapter, tokens, latency, cost or sources, so neither the page nor its network traffic tells which
answer came from where. The judgement's reply (``JudgementStored``) reveals it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ragtune.names import NAME_MAX
from services.gateway.schemas import StrictModel
from services.gateway.win_rates import WinRateTable
from services.modes import AnswerMode

ADAPTER_REF_PATTERN = (
    rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}(@[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}})?$"
)
"""An adapter as requests name it: ``NAME`` or ``NAME@VERSION``."""
MAX_ANSWERS = 6
TIE = "tie"


class Contestant(StrictModel):
    """One way of answering: a mode, and for ``ft``/``hybrid`` an adapter (default: the gateway's)."""

    mode: AnswerMode
    adapter: str | None = Field(None, pattern=ADAPTER_REF_PATTERN)


class SuppliedAnswer(StrictModel):
    """An answer generated elsewhere (an evaluation run, a compare call), with how it was made."""

    mode: AnswerMode
    adapter: str | None = Field(None, pattern=ADAPTER_REF_PATTERN)
    text: str = Field(min_length=1, max_length=20_000)
    request_id: str | None = Field(None, max_length=128)
    """Its id in the request log, when it has one."""


class RatingTaskRequest(StrictModel):
    """A question and either the contestants to answer it now, or answers already generated."""

    question: str = Field(min_length=1)
    contestants: list[Contestant] | None = Field(None, min_length=2, max_length=MAX_ANSWERS)
    answers: list[SuppliedAnswer] | None = Field(None, min_length=2, max_length=MAX_ANSWERS)
    namespace: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    top_k: int | None = Field(None, ge=1, le=50)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _one_source(self) -> RatingTaskRequest:
        if (self.contestants is None) == (self.answers is None):
            raise ValueError("give exactly one of 'contestants' (answer now) or 'answers' (already generated)")
        if self.contestants is not None:
            seen = [(c.mode, c.adapter) for c in self.contestants]
            if len(set(seen)) != len(seen):
                raise ValueError("the contestants must differ (mode and adapter)")
        return self


class BlindAnswer(BaseModel):
    id: str
    """Opaque: says nothing of the mode or adapter."""
    text: str


class BlindTask(BaseModel):
    """A question and its answers in random order, unlabelled."""

    task_id: str
    question: str
    answers: list[BlindAnswer]


class NextTask(BaseModel):
    task: BlindTask | None
    """The oldest task this rater has not judged yet (None: none left)."""
    pending: int
    """How many such tasks wait, this one included."""


class JudgementRequest(StrictModel):
    choice: str = Field(min_length=1, max_length=64)
    """The better answer's id, or ``tie``."""
    reason: str | None = Field(None, max_length=4000)


class RevealedAnswer(BaseModel):
    id: str
    mode: str
    adapter: str | None
    chosen: bool


class JudgementStored(BaseModel):
    """The stored judgement, and now which answer came from where."""

    task_id: str
    choice: str
    answers: list[RevealedAnswer]
    stored: bool = True


class RatingSummary(WinRateTable):
    by: Literal["contestant", "mode", "adapter"]
    """What a contestant is: a mode with its adapter (``hybrid:NAME@VERSION``), a mode, or an adapter."""
    tasks: int
    """Rating tasks created (judged or not)."""
