"""PDF loader: text through pypdfium2 (PDFium), sections from the PDF outline (bookmarks).

PDFium places word spaces from the glyph positions on the page, which holds on pdfTeX's
justified multi-column pages where pypdf glues whole lines ("Fitasilencerofatleastone…"; see
``benchmarks/results/indexer_extractors.md``). Sections come from the outline that pdfTeX with
hyperref, LibreOffice and Chromium (``--generate-pdf-document-outline``) write: each bookmark's
title becomes a section title, cut where its heading line appears in the text of its page. A PDF
without an outline falls back to one section per page.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from pathlib import PurePath

from indexer.errors import EmptyDocumentError, UnreadableDocumentError
from indexer.schemas import LoadedDocument, Section
from ragtune.settings import IndexSettings

_PDFIUM = threading.Lock()
"""PDFium is not thread-safe; the gateway may load uploads from several threads at once."""

_NUMBERING = r"(?:(?:chapter|section|appendix|part)\s+)?(?:[0-9IVXLC]+|[A-Z])?(?:\.[0-9]+)*\.?\s*"
_PLACEHOLDER_TITLES = {"untitled", "microsoft word", "title"}
_TYPESETTERS = re.compile(r"tex|dvipdf", re.IGNORECASE)
"""Producers that hyphenate words by themselves (pdfTeX, XeTeX's xdvipdfmx, LuaTeX). Browsers and
office suites break lines only at hyphens the text has (unless the author turned hyphenation on),
so there a hyphen at a line end is kept."""


@dataclass(frozen=True)
class OutlineEntry:
    """One bookmark: its nesting level (0 = top), title and the page it points to (0-based)."""

    level: int
    title: str
    page: int


@dataclass(frozen=True)
class PdfContent:
    """What the loader reads from a PDF."""

    pages: list[str]
    outline: list[OutlineEntry]
    title: str
    producer: str
    """The metadata's Producer and Creator, e.g. "pdfTeX-1.40.24 TeX", "Skia/PDF m156 …"."""


def read_pdf(data: bytes, filename: str) -> PdfContent:
    """Page texts, outline, title and producer of a PDF; raises UnreadableDocumentError."""
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise UnreadableDocumentError(f"{filename}: the PDF is encrypted with a password") from None
            raise UnreadableDocumentError(f"{filename}: not a readable PDF ({exc})") from None
        try:
            pages = [_page_text(pdf, index) for index in range(len(pdf))]
            outline = _outline(pdf, len(pages))
            info = pdf.get_metadata_dict(skip_empty=True)
        except (pdfium.PdfiumError, ValueError, OSError) as exc:
            raise UnreadableDocumentError(f"{filename}: not a readable PDF ({exc})") from None
        finally:
            pdf.close()
    return PdfContent(
        pages=pages,
        outline=outline,
        title=(info.get("Title") or "").strip(),
        producer=f"{info.get('Producer', '')} {info.get('Creator', '')}".strip(),
    )


def _page_text(pdf, index: int) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _outline(pdf, page_count: int) -> list[OutlineEntry]:
    entries = []
    for bookmark in pdf.get_toc(max_depth=16):
        title = " ".join((bookmark.get_title() or "").split())
        dest = bookmark.get_dest()
        page = dest.get_index() if dest is not None else None
        if title and page is not None and 0 <= page < page_count:
            entries.append(OutlineEntry(level=bookmark.level, title=title, page=page))
    return entries


def _heading_pattern(title: str) -> re.Pattern[str]:
    """The bookmark title as a whole line, optionally numbered ("2.1 Duct connections").

    Whitespace may differ either way between bookmark and page (Chromium writes "UserManual" for
    "User Manual"), so every character may be followed by any whitespace.
    """
    chars = [re.escape(c) for c in title if not c.isspace()]
    body = r"\s*".join(chars)
    return re.compile(rf"^[ \t]*{_NUMBERING}(?P<title>{body})[ \t]*$", re.IGNORECASE | re.MULTILINE)


def outline_sections(pages: list[str], outline: list[OutlineEntry]) -> list[Section]:
    """Cut the pages' text at the outline's headings, then at page ends (a section per page, each
    with its ``page``); text before the first heading is untitled.

    Each heading is looked for as a line on its bookmark's page (or the next one), after the
    previous heading. Found, the heading line is dropped from the text (the section title holds
    it); not found, the section starts at the top of its page, or, when that is not after the
    previous cut, the bookmark is skipped and its text stays with the section before.
    """
    starts = []
    offset = 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + 1
    text = "\n".join(pages)
    cuts: list[tuple[int, int, str]] = []  # (section start, body start, title)
    position = 0
    for entry in outline:
        page_start = starts[entry.page]
        search_end = starts[entry.page + 2] if entry.page + 2 < len(starts) else len(text)
        found = _heading_pattern(entry.title).search(text, max(position, page_start), search_end)
        title = entry.title
        if found:
            start, body = found.start(), found.end()
            title = " ".join(found.group("title").split())  # the page's spelling and spacing
        elif page_start > position or (page_start == position and not cuts):
            start = body = page_start
        else:
            continue
        cuts.append((start, body, title))
        position = body
    spans = [(0, cuts[0][0] if cuts else len(text), "")]
    for index, (_start, body, title) in enumerate(cuts):
        spans.append((body, cuts[index + 1][0] if index + 1 < len(cuts) else len(text), title))
    sections = []
    for span_start, span_end, title in spans:
        sections.extend(_page_pieces(text, starts, span_start, span_end, title))
    return [s for s in sections if s.text or s.title]


def _page_pieces(text: str, starts: list[int], start: int, end: int, title: str) -> list[Section]:
    """The text between ``start`` and ``end`` as one section per page it covers (all with
    ``title``), so every chunk knows its page; an empty span keeps a titled section of its own."""
    pieces: list[Section] = []
    page = bisect.bisect_right(starts, start) - 1
    while start < end or not pieces:
        stop = min(end, starts[page + 1] if page + 1 < len(starts) else end)
        piece = text[start:stop].strip()
        if piece or (title and not pieces and stop >= end):
            pieces.append(Section(title=title, text=piece, page=page + 1))
        if stop >= end:
            break
        start, page = stop, page + 1
    return pieces


def load_pdf(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    """A PDF as one document: outline sections (or one per page), running headers removed."""
    from indexer.cleaning import fix_pdf_text, pdf_vocabulary, strip_repeated_lines

    content = read_pdf(data, filename)
    pages, title = content.pages, content.title
    if not any(page.strip() for page in pages):
        raise EmptyDocumentError(f"{filename}: the PDF has no extractable text (scanned images need OCR first)")
    words = pdf_vocabulary(pages)
    keep_hyphens = bool(content.producer) and not _TYPESETTERS.search(content.producer)
    pages = strip_repeated_lines([fix_pdf_text(page, words, keep_hyphens) for page in pages])
    sections = outline_sections(pages, content.outline) if content.outline else []
    if not any(section.title for section in sections):
        sections = [Section(title=f"page {n}", text=text, page=n) for n, text in enumerate(pages, 1) if text.strip()]
    sections = [s for s in sections if s.text.strip()] or sections
    if not title or title.lower() in _PLACEHOLDER_TITLES:
        first = next((line.strip() for s in sections for line in s.text.splitlines() if line.strip()), "")
        title = first[:120] if first else PurePath(filename).stem
    return [LoadedDocument(title=title, sections=sections, format="pdf")]
