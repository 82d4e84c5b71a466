"""Question files for ``ragtune bench`` and labelled QA files for ``ragtune eval``."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, model_validator

from ragtune.errors import RagtuneError


class DatasetError(RagtuneError):
    """A question or QA file is missing or malformed; the message names the file and line."""


class QAItem(BaseModel):
    """One labelled question (one line of a QA JSONL file)."""

    id: str
    question: str = Field(min_length=1)
    answerable: bool = True
    gold_doc: str | None = None
    """The document that answers it: a doc id, file name stem or title fragment."""
    gold_section: str | None = None
    """The section heading inside that document, when known."""
    faq_id: str | None = None
    expected_terms: list[str] = Field(default_factory=list)
    """Key terms or numbers a correct answer contains."""
    support: str | None = None
    """The supporting text in the gold document (what a correct citation must contain)."""

    @model_validator(mode="after")
    def _answerable_needs_gold(self) -> QAItem:
        if self.answerable and not (self.gold_doc or self.support):
            raise ValueError("an answerable item needs gold_doc or support")
        return self


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")


def load_qa(path: Path) -> list[QAItem]:
    """Read a QA JSONL file (one :class:`QAItem` per line; blank lines and ``#`` comments skipped)."""
    _require_file(path)
    items: list[QAItem] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = QAItem.model_validate(json.loads(line))
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{number}: not JSON ({err.msg})") from None
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "item"
            raise DatasetError(f"{path}:{number}: {where}: {first['msg']}") from None
        if item.id in seen:
            raise DatasetError(f"{path}:{number}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: holds no QA items")
    return items


def load_questions(path: Path) -> list[str]:
    """Questions for ``bench``: a text file (one per line) or a QA JSONL file (its questions)."""
    _require_file(path)
    if path.suffix.lower() in {".jsonl", ".json"}:
        return [item.question for item in load_qa(path)]
    questions = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not questions:
        raise DatasetError(f"{path}: holds no questions")
    return questions
