"""The normal form of one chat example and the errors raised while reading examples."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ragtune.errors import RagtuneError

Role = Literal["system", "user", "assistant"]
Split = Literal["train", "eval"]


class DataError(RagtuneError):
    """Training data cannot be used; the message names the file and the offending lines."""


class Message(BaseModel):
    role: Role
    content: str


class ChatExample(BaseModel):
    """One training conversation in ragtune's normal form (one JSON object per line)."""

    id: str
    split: Split | None = None
    messages: list[Message] = Field(min_length=2)

    def text(self) -> str:
        """All message contents joined, used for duplicate detection and statistics."""
        return "\n".join(m.content for m in self.messages)

    def prompt_messages(self) -> list[Message]:
        """The conversation up to (excluding) the last assistant reply."""
        return self.messages[:-1]

    @property
    def reply(self) -> str:
        """The last assistant reply (what the model is trained to write)."""
        return self.messages[-1].content


class LineIssue(BaseModel):
    """Why one input line was rejected or dropped."""

    line: int
    reason: str
