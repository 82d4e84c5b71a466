"""Cleaning: normalise whitespace, drop boilerplate lines and repair PDF text (duplicate chunks:
``ragtune.neardup``)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?[-–—]?\s*\d{1,4}\s*(?:(?:/|of)\s*\d{1,4})?\s*[-–—]?\s*$",
                          re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"^\s*(?:©|copyright\b|all rights reserved|this (?:site|website) uses cookies|"
    r"accept (?:all )?cookies|cookie (?:policy|settings)|skip to (?:main )?content|"
    r"back to top|share (?:this|on)\b|print this page)",
    re.IGNORECASE)

# Glyph codes pypdf returns for TeX fonts in T1 (Cork) encoding that lack a ToUnicode map
# (measured on pdflatex output, see benchmarks/bench_indexer_extractors.py), and the Unicode
# ligature code points; control characters never belong in extracted text.
_PDF_GLYPHS = str.maketrans({
    "\x1b": "ff", "\x1c": "fi", "\x1d": "fl", "\x1e": "ffi", "\x1f": "ffl",
    "\x15": "\u2013", "\x16": "\u2014",
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
    "\ufb05": "st", "\ufb06": "st",
})
_WRAPPED_LINE = re.compile(r"(?<=[^\s.!?:;])[ \t]*\n(?=[a-zåäöéü(])")


def fix_pdf_text(text: str) -> str:
    """Repair PDF extraction artefacts: TeX ligature glyph codes and lines wrapped mid-sentence."""
    text = re.sub(r"(\w)-[ \t]*\n(?=[a-zåäöéü])", r"\1", text.translate(_PDF_GLYPHS))
    return _WRAPPED_LINE.sub(" ", text)


def normalize_text(text: str) -> str:
    """Unicode NFC, no invisible characters, single spaces, at most one blank line in a row.

    Words hyphenated across a line break (common in PDFs) are joined again.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def drop_boilerplate_lines(text: str) -> str:
    """Remove short lines that are page numbers or site boilerplate (cookies, copyright, ...)."""
    kept = [line for line in text.split("\n")
            if not (len(line) < 120 and (_PAGE_NUMBER.match(line) or _BOILERPLATE.match(line)))]
    return "\n".join(kept)


def strip_repeated_lines(pages: list[str], min_pages: int = 3, share: float = 0.5) -> list[str]:
    """Remove running headers and footers: short lines found on at least ``share`` of the pages."""
    if len(pages) < min_pages:
        return pages
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({line.strip() for line in page.splitlines() if 0 < len(line.strip()) < 100})
    repeated = {line for line, n in counts.items() if n >= max(2, share * len(pages))}
    return ["\n".join(line for line in page.splitlines() if line.strip() not in repeated)
            for page in pages]


def clean_text(text: str) -> str:
    """The full text clean-up applied to every section before chunking."""
    return normalize_text(drop_boilerplate_lines(normalize_text(text)))
