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
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?[-–—]?\s*\d{1,4}\s*(?:(?:/|of)\s*\d{1,4})?\s*[-–—]?\s*$", re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"^\s*(?:©|copyright\b|all rights reserved|this (?:site|website) uses cookies|"
    r"accept (?:all )?cookies|cookie (?:policy|settings)|skip to (?:main )?content|"
    r"back to top|share (?:this|on)\b|print this page)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)

# Glyph codes PDF extractors (pypdf, PDFium) return for TeX fonts in T1 (Cork) encoding that lack
# a ToUnicode map (measured on pdflatex output, see benchmarks/bench_indexer_extractors.py), and
# the Unicode ligature code points; control characters never belong in extracted text.
_PDF_GLYPHS = str.maketrans(
    {
        "\r": "\n",
        "\x1b": "ff",
        "\x1c": "fi",
        "\x1d": "fl",
        "\x1e": "ffi",
        "\x1f": "ffl",
        "\x15": "\u2013",
        "\x16": "\u2014",
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)
_WRAPPED_LINE = re.compile(r"(?<=[^\s.!?:;])[ \t]*\n(?=[a-zåäöéü(])")
# A hyphen at a line end: "con-\n" (pypdf, pdfminer) or "con\ufffe" (PDFium marks the hyphen with
# U+FFFE and has already joined the lines), followed by the word's lower-case rest.
_LINE_END_HYPHEN = re.compile(r"(\w+)(?:-[ \t]*\n|\ufffe)(?=([a-zåäöéü]\w*))")


def pdf_vocabulary(texts: list[str]) -> set[str]:
    """Lower-cased words of a document's pages, without the pieces of words broken at line ends."""
    words: set[str] = set()
    for text in texts:
        unbroken = re.sub(r"\w+(?:-[ \t]*\r?\n|\ufffe)\w+", " ", text)
        words.update(_WORD.findall(unbroken.lower()))
    return words


def _rejoin(found: re.Match[str], words: set[str] | None, keep_hyphens: bool) -> str:
    first, rest = found.group(1), found.group(2)
    if keep_hyphens or (words is not None and rest.lower() in words and (first + rest).lower() not in words):
        return f"{first}-"  # a compound at a line end: "twenty-two", "high-pressure"
    return first  # a word hyphenated at a syllable: "con-trol"


def fix_pdf_text(text: str, words: set[str] | None = None, keep_hyphens: bool = False) -> str:
    """Repair PDF extraction artefacts: TeX ligature glyph codes, hyphenation and wrapped lines.

    A word hyphenated at a line end is joined again ("con-trol" → "control"), unless
    ``keep_hyphens`` (the producer never hyphenates by itself: browsers, office suites) or
    ``words`` (the document's vocabulary, ``pdf_vocabulary``) says the hyphen belongs there: the
    part after it is a word of its own elsewhere in the document and the joined form is not
    ("twenty-two", "fifty-five"). A line break inside a sentence becomes a space.
    """
    text = text.replace("\r\n", "\n").translate(_PDF_GLYPHS)
    text = _LINE_END_HYPHEN.sub(lambda found: _rejoin(found, words, keep_hyphens), text)
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
    kept = [
        line
        for line in text.split("\n")
        if not (len(line) < 120 and (_PAGE_NUMBER.match(line) or _BOILERPLATE.match(line)))
    ]
    return "\n".join(kept)


def strip_repeated_lines(pages: list[str], min_pages: int = 3, share: float = 0.5) -> list[str]:
    """Remove running headers and footers: short lines found on at least ``share`` of the pages."""
    if len(pages) < min_pages:
        return pages
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({line.strip() for line in page.splitlines() if 0 < len(line.strip()) < 100})
    repeated = {line for line, n in counts.items() if n >= max(2, share * len(pages))}
    return ["\n".join(line for line in page.splitlines() if line.strip() not in repeated) for page in pages]


def clean_text(text: str) -> str:
    """The full text clean-up applied to every section before chunking."""
    return normalize_text(drop_boilerplate_lines(normalize_text(text)))
