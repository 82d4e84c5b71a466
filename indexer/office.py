"""Office documents: DOCX, PPTX, XLSX and ODT into titled sections.

- DOCX (python-docx): paragraphs and tables in document order; a heading (a "Heading N" / "Title"
  style, or any style with an outline level) starts a section titled by it.
- PPTX (python-pptx): one section per slide, titled by the slide's title placeholder; text boxes,
  tables and grouped shapes in slide order, then the speaker notes.
- XLSX (openpyxl, cached cell values): one section per sheet, titled by the sheet's name; when
  the first row is a header, every row becomes one line of ``header: value`` pairs, so a chunk
  of rows still says what each value means.
- ODT (odfpy): like DOCX, with ``text:h`` elements as the headings.

The document title is the file's own title property, else its first heading or slide title, else
the file name. Headers, footers, comments and embedded images are not indexed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

from indexer.errors import UnreadableDocumentError
from indexer.schemas import LoadedDocument, Section
from ragtune.settings import IndexSettings

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_KINDS = {"docx": "Word (DOCX)", "pptx": "PowerPoint (PPTX)", "xlsx": "Excel (XLSX)", "odt": "OpenDocument text (ODT)"}


def _unreadable(filename: str, fmt: str, exc: BaseException) -> UnreadableDocumentError:
    reason = str(exc).strip() or type(exc).__name__
    return UnreadableDocumentError(f"{filename}: not a readable {_KINDS[fmt]} file ({reason})")


class _Sections:
    """Collects blocks of text under the most recent heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._title = ""
        self._blocks: list[str] = []
        self.first_heading = ""

    def heading(self, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        self.flush()
        self._title = title
        self.first_heading = self.first_heading or title

    def add(self, text: str) -> None:
        if text.strip():
            self._blocks.append(text.strip())

    def flush(self) -> None:
        if self._blocks or self._title:
            self.sections.append(Section(title=self._title, text="\n\n".join(self._blocks)))
        self._title, self._blocks = "", []

    def done(self) -> list[Section]:
        self.flush()
        return [s for s in self.sections if s.text]


def _table_lines(rows: Iterable[list[str]], merged: bool = True) -> str:
    """Table rows as lines of cells joined by " | ", trailing empty cells dropped.

    ``merged``: a cell equal to its left neighbour is written once (python-docx and python-pptx
    repeat a horizontally merged cell for every grid column it spans).
    """
    lines = []
    for row in rows:
        cells: list[str] = []
        for cell in row:
            cell = " ".join(cell.split())
            if not (merged and cells and cell == cells[-1]):
                cells.append(cell)
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _document(title: str, collected: _Sections, filename: str, fmt: str) -> list[LoadedDocument]:
    sections = collected.done()
    title = " ".join(title.split()) or collected.first_heading or PurePath(filename).stem
    return [LoadedDocument(title=title, sections=sections, format=fmt)]


# --- DOCX -------------------------------------------------------------------------------------
def _docx_heading_level(paragraph: Any) -> int | None:
    """0 for the Title style, N for "Heading N" or an outline level N-1; None for body text."""
    from docx.oxml.ns import qn

    style = paragraph.style
    while style is not None:
        name = style.name or ""
        if name.lower() == "title":
            return 0
        found = _HEADING_STYLE.match(name)
        if found:
            return int(found.group(1))
        style = style.base_style
    for owner in (paragraph._p, paragraph.style.element if paragraph.style is not None else None):
        p_pr = owner.find(qn("w:pPr")) if owner is not None else None
        level = p_pr.find(qn("w:outlineLvl")) if p_pr is not None else None
        if level is not None and level.get(qn("w:val"), "9").isdigit():
            value = int(level.get(qn("w:val")))
            if value < 9:  # 9 means "body text"
                return value + 1
    return None


def load_docx(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    """A Word document: headings start sections; tables become lines of " | "-joined cells."""
    import docx
    from docx.table import Table

    collected = _Sections()
    try:
        document = docx.Document(io.BytesIO(data))
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                collected.add(_table_lines([c.text for c in row.cells] for row in block.rows))
            elif _docx_heading_level(block) is not None:
                collected.heading(block.text)
            else:
                collected.add(block.text)
        title = document.core_properties.title or ""
    except Exception as exc:  # noqa: BLE001 - zip, XML and package errors all mean unreadable
        raise _unreadable(filename, "docx", exc) from None
    return _document(title, collected, filename, "docx")


# --- PPTX -------------------------------------------------------------------------------------
def _shape_texts(shapes: Iterable[Any], skip: Any = None) -> Iterator[str]:
    for shape in shapes:
        if skip is not None and shape.shape_id == skip:
            continue
        if getattr(shape, "shapes", None) is not None:  # a group
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield _table_lines([c.text for c in row.cells] for row in shape.table.rows)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield "\n".join(p.text for p in shape.text_frame.paragraphs if p.text.strip())


def load_pptx(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    """A presentation: one section per slide, titled by its title (else "slide N"), notes last."""
    from pptx import Presentation

    collected = _Sections()
    try:
        presentation = Presentation(io.BytesIO(data))
        for number, slide in enumerate(presentation.slides, 1):
            title_shape = slide.shapes.title
            title = title_shape.text_frame.text if title_shape is not None else ""
            collected.heading(title if title.strip() else f"slide {number}")
            skip = title_shape.shape_id if title_shape is not None else None
            for text in _shape_texts(slide.shapes, skip):
                collected.add(text)
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                collected.add(slide.notes_slide.notes_text_frame.text)
        core_title = presentation.core_properties.title or ""
    except Exception as exc:  # noqa: BLE001 - zip, XML and package errors all mean unreadable
        raise _unreadable(filename, "pptx", exc) from None
    first_slide = next((s.title for s in collected.sections if not s.title.startswith("slide ")), "")
    return _document(core_title or first_slide, collected, filename, "pptx")


# --- XLSX -------------------------------------------------------------------------------------
def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes").removesuffix(" 00:00")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return " ".join(str(value).split())


def sheet_text(rows: list[list[str]]) -> str:
    """A sheet's rows as text: ``header: value | header: value`` lines under a header row."""
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    width = max(max((i + 1 for i, cell in enumerate(row) if cell), default=0) for row in rows)
    rows = [row[:width] + [""] * (width - len(row)) for row in rows]
    header = rows[0]
    has_header = (
        len(rows) > 1 and width > 1 and all(header) and not any(re.fullmatch(r"[-+]?[\d.,]+", cell) for cell in header)
    )
    if not has_header:
        return _table_lines(rows, merged=False)
    lines = [
        " | ".join(f"{name}: {value}" for name, value in zip(header, row, strict=False) if value) for row in rows[1:]
    ]
    return "\n".join(line for line in lines if line)


def load_xlsx(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    """A workbook: one section per worksheet (chart sheets have no cells), cached cell values."""
    from openpyxl import load_workbook

    collected = _Sections()
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
                collected.heading(sheet.title)
                collected.add(sheet_text(rows))
            title = workbook.properties.title or ""
        finally:
            workbook.close()
    except Exception as exc:  # noqa: BLE001 - zip, XML and package errors all mean unreadable
        raise _unreadable(filename, "xlsx", exc) from None
    return _document(title, collected, filename, "xlsx")


# --- ODT --------------------------------------------------------------------------------------
_ODF_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def _odt_heading_styles(document: Any) -> set[str]:
    """Paragraph styles that are headings: "Heading N" / "Title", an outline level, or a child.

    LibreOffice writes some headings as ``text:p`` with an automatic style whose parent is
    "Heading 1" (the first heading of a page with its own master page, for one).
    """
    parents: dict[str, str] = {}
    headings: set[str] = set()
    for container in (document.styles, document.automaticstyles):
        for style in container.childNodes:
            if getattr(style, "qname", None) != (_ODF_STYLE, "style"):
                continue
            name = style.attributes.get((_ODF_STYLE, "name"), "")
            display = style.attributes.get((_ODF_STYLE, "display-name"), name.replace("_20_", " "))
            parents[name] = style.attributes.get((_ODF_STYLE, "parent-style-name"), "")
            if (
                _HEADING_STYLE.match(display)
                or display.lower() == "title"
                or style.attributes.get((_ODF_STYLE, "default-outline-level"))
            ):
                headings.add(name)
    for name in list(parents):
        seen, current = set(), name
        while current and current not in seen:
            if current in headings:
                headings.add(name)
                break
            seen.add(current)
            current = parents.get(current, "")
    return headings


def _odt_walk(element: Any, collected: _Sections, headings: set[str]) -> None:
    from odf import teletype

    for child in element.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        kind = child.qname[1]
        if kind == "h" or (kind == "p" and child.attributes.get((_ODF_TEXT, "style-name")) in headings):
            collected.heading(teletype.extractText(child))
        elif kind == "p":
            collected.add(teletype.extractText(child))
        elif kind == "table":
            rows = []
            for row in child.getElementsByType(_odf_row()):
                rows.append(
                    [
                        teletype.extractText(cell)
                        for cell in row.childNodes
                        if getattr(cell, "qname", (None, None))[1] == "table-cell"
                    ]
                )
            collected.add(_table_lines(rows))
        elif kind in {
            "list",
            "list-item",
            "list-header",
            "section",
            "index-body",
            "div",
            "text-content",
            "body",
            "text",
        }:
            _odt_walk(child, collected, headings)


def _odf_row() -> Any:
    from odf.table import TableRow

    return TableRow


def load_odt(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    """An OpenDocument text: ``text:h`` headings start sections; tables as " | "-joined cells."""
    from odf import dc, teletype
    from odf.opendocument import load

    collected = _Sections()
    try:
        document = load(io.BytesIO(data))
        _odt_walk(document.text, collected, _odt_heading_styles(document))
        titles = document.meta.getElementsByType(dc.Title)
        title = teletype.extractText(titles[0]) if titles else ""
    except Exception as exc:  # noqa: BLE001 - zip and XML errors all mean unreadable
        raise _unreadable(filename, "odt", exc) from None
    return _document(title, collected, filename, "odt")
