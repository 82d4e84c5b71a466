"""Recognises navigation text: tables of contents, alphabetical indexes, link lists.

A manual's index page ("isfield . . . . 120", "parse, 12, 45") or table of contents matches many
queries word for word and answers none of them, so the retriever moves such chunks after the
others (``index.demote_navigation``). A chunk is navigation when entries of these shapes cover at
least half of its text:

- a dot leader to a page number: ``10.1 The if Statement . . . . . 179`` (pdfTeX, texinfo, Word);
- an index line of page numbers: ``regular expressions, 91, 93-95`` (LaTeX's makeindex);
- a Markdown link alone on its line: ``- [Installation](install.md)``.
"""

from __future__ import annotations

import re

_LEADER = re.compile(r"(?:\s?\.){3,}\s*(?:\d{1,5}|[ivxlcdm]{1,7})\b", re.IGNORECASE)
_ENTRY_CHARS = 80
"""An entry's text before its leader is at most this long (a heading or an index term)."""
_PAGES = r"\d{1,5}(?:\s*[-–]\s*\d{1,5})?"
_INDEX_LINE = re.compile(rf"^[^\n,]{{1,80}},\s*{_PAGES}(?:,\s*{_PAGES})*\s*$", re.MULTILINE)
_LINK_LINE = re.compile(r"^\s*(?:[-*+]|\d+\.)?\s*\[[^\]\n]+\]\([^)\n]+\)\s*$", re.MULTILINE)
NAVIGATION_SHARE = 0.5
"""The share of a chunk's characters (spaces not counted) that navigation entries must cover."""


def navigation_share(text: str) -> float:
    """The share of ``text``'s non-space characters inside navigation entries (0 to 1)."""
    total = _visible(text)
    if not total:
        return 0.0
    covered = _leader_entries(text)
    if "," in text:
        covered += sum(_visible(m.group(0)) for m in _INDEX_LINE.finditer(text))
    if "](" in text:
        covered += sum(_visible(m.group(0)) for m in _LINK_LINE.finditer(text))
    return min(1.0, covered / total)


def _leader_entries(text: str) -> int:
    """Non-space characters in dot-leader entries: each leader with the short text before it."""
    covered = 0
    previous = 0
    for match in _LEADER.finditer(text):
        before = text[previous : match.start()]
        if len(before.strip()) <= _ENTRY_CHARS:
            covered += _visible(before) + _visible(match.group(0))
        previous = match.end()
    return covered


def _visible(text: str) -> int:
    return len(text) - sum(map(text.count, " \n\t\r"))


def is_navigation(text: str) -> bool:
    """True for a table of contents, an index or a link list (see the module's description)."""
    return navigation_share(text) >= NAVIGATION_SHARE
