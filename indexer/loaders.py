"""Loaders: bytes of one file -> documents with a title and sections (headings kept).

Formats are chosen by file extension. Markdown and plain text are decoded here; HTML goes through
trafilatura (main text only, navigation and footers dropped, headings kept as Markdown), PDF
through pypdfium2 (sections from the outline, else one per page; ``indexer/pdf.py``), office
documents through python-docx / python-pptx / openpyxl / odfpy (headings, slides and sheets
become sections; ``indexer/office.py``), and JSON / JSONL / CSV records become one document each.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from indexer.errors import EmptyDocumentError, UnreadableDocumentError, UnsupportedFormatError
from indexer.office import load_docx, load_odt, load_pptx, load_xlsx
from indexer.pdf import load_pdf
from indexer.schemas import LoadedDocument, Section
from ragtune.jsonlimits import JSONLimitError, loads_bounded
from ragtune.settings import IndexSettings

FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".odt": "odt",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}
"""File extension -> format name."""

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_PERMALINK = re.compile(r"[\s¶#🔗]+$")
_FRONT_TITLE = re.compile(r"^title:\s*['\"]?(.+?)['\"]?\s*$", re.MULTILINE)


def format_of(filename: str) -> str:
    """The format name for a file name; raises UnsupportedFormatError for unknown extensions."""
    suffix = PurePath(filename).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise UnsupportedFormatError(
            f"{filename}: unsupported format '{suffix or '(no extension)'}' (supported: {known})"
        )
    return fmt


def decode_text(data: bytes, filename: str) -> str:
    """Bytes -> str: UTF-8 (with or without BOM), else the encoding charset-normalizer detects."""
    if b"\x00" in data[:8192]:
        raise UnreadableDocumentError(f"{filename}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    # Detectors often mistake Western European text (Windows-1252 / Latin-1, the usual legacy
    # encoding of the documents this is for) for a neighbour code page; prefer it when plausible.
    western = [r for r in results if r.encoding in ("cp1252", "latin_1", "iso8859_15")]
    if western and best is not None and western[0].chaos <= best.chaos + 0.1:
        best = western[0]
    if best is None:
        raise UnreadableDocumentError(f"{filename}: not valid text in any known encoding")
    return str(best)


def split_markdown(markdown: str) -> list[Section]:
    """Split Markdown into sections at its headings (parsed with markdown-it, so code is safe)."""
    from markdown_it import MarkdownIt

    lines = markdown.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    headings: list[tuple[int, int, str]] = []  # (first line, end line, heading text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            # generators append permalink symbols to headings (Sphinx "¶", MkDocs "#")
            title = _PERMALINK.sub("", tokens[i + 1].content).strip()
            headings.append((token.map[0], token.map[1], title))
    sections: list[Section] = []
    starts = [(0, 0, "")] + headings
    for index, (_start, end, title) in enumerate(starts):
        stop = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        body = "\n".join(lines[end:stop]).strip()
        if body:
            sections.append(Section(title=title, text=body))
    return sections


def _title_from(sections: list[Section], fallback: str) -> str:
    for section in sections:
        if section.title:
            return section.title
    return fallback


def load_markdown(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    text = decode_text(data, filename)
    title = ""
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        title = found.group(1) if found else ""
        text = text[front.end() :]
    sections = split_markdown(text)
    return [
        LoadedDocument(
            title=title or _title_from(sections, PurePath(filename).stem), sections=sections, format="markdown"
        )
    ]


def load_text(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    text = decode_text(data, filename)
    return [LoadedDocument(title=PurePath(filename).stem, sections=[Section(text=text)], format="text")]


def load_html(data: bytes, filename: str, _config: IndexSettings) -> list[LoadedDocument]:
    """Main text of an HTML page via trafilatura; headings become section titles."""
    import trafilatura

    html = decode_text(data, filename)
    try:
        markdown = trafilatura.extract(
            html,
            output_format="markdown",
            include_formatting=True,
            include_tables=True,
            favor_recall=True,
            include_comments=False,
        )
        metadata = trafilatura.extract_metadata(html)
    except Exception as exc:  # noqa: BLE001 - any parser failure is unreadable input
        raise UnreadableDocumentError(f"{filename}: cannot parse HTML ({exc})") from None
    sections = split_markdown(markdown or "")
    page_title = metadata.title if metadata and metadata.title else ""
    extra: dict[str, Any] = {}
    if metadata is not None:
        extra = {
            k: v for k, v in (("author", metadata.author), ("url", metadata.url), ("site", metadata.sitename)) if v
        }
    return [
        LoadedDocument(
            title=page_title or _title_from(sections, PurePath(filename).stem),
            sections=sections,
            format="html",
            metadata=extra,
        )
    ]


def _first_field(record: dict[str, Any], names: list[str]) -> tuple[str | None, Any]:
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return name, value
    return None, None


def records_to_documents(records: list[Any], filename: str, fmt: str, config: IndexSettings) -> list[LoadedDocument]:
    """One document per record: text, title and id from the configured fields, the rest metadata."""
    documents: list[LoadedDocument] = []
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise UnreadableDocumentError(f"{filename}: record {position + 1} is not an object with named fields")
        text_field, text = _first_field(record, config.record_text_fields)
        if text_field is None:
            raise UnreadableDocumentError(
                f"{filename}: record {position + 1} has none of the text fields "
                f"{config.record_text_fields} (set index.record_text_fields)"
            )
        title_field, title = _first_field(record, config.record_title_fields)
        id_field, record_id = _first_field(record, config.record_id_fields)
        used = {text_field, title_field, id_field}
        metadata = {
            k: v
            for k, v in record.items()
            if k not in used and v not in (None, "") and isinstance(v, (str, int, float, bool, list))
        }
        title_text = str(title).strip() if title is not None else ""
        body = str(text).strip()
        sections = [Section(title=title_text, text=body)]
        documents.append(
            LoadedDocument(
                key=str(record_id) if record_id is not None else str(position + 1),
                title=title_text or f"{PurePath(filename).stem} #{position + 1}",
                sections=sections,
                format=fmt,
                metadata=metadata,
            )
        )
    return documents


def _records_in(value: Any) -> list[Any] | None:
    """The record list inside parsed JSON: the value itself, or its first list of objects."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, list) and item and all(isinstance(r, dict) for r in item):
                return item
        return [value]
    return None


def load_json(data: bytes, filename: str, config: IndexSettings) -> list[LoadedDocument]:
    try:
        parsed = loads_bounded(decode_text(data, filename), what=filename)
    except JSONLimitError as exc:
        raise UnreadableDocumentError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise UnreadableDocumentError(f"{filename}: invalid JSON ({exc})") from None
    records = _records_in(parsed)
    if records is None:
        raise UnreadableDocumentError(f"{filename}: JSON holds no records (objects)")
    return records_to_documents(records, filename, "json", config)


def load_jsonl(data: bytes, filename: str, config: IndexSettings) -> list[LoadedDocument]:
    records = []
    for number, line in enumerate(decode_text(data, filename).splitlines(), 1):
        if line.strip():
            try:
                records.append(loads_bounded(line, what=f"{filename}: line {number}"))
            except JSONLimitError as exc:
                raise UnreadableDocumentError(str(exc)) from None
            except json.JSONDecodeError as exc:
                raise UnreadableDocumentError(f"{filename}: line {number} is not JSON ({exc})") from None
    return records_to_documents(records, filename, "jsonl", config)


def load_csv(data: bytes, filename: str, config: IndexSettings) -> list[LoadedDocument]:
    text = decode_text(data, filename)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        records = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    except csv.Error as exc:
        raise UnreadableDocumentError(f"{filename}: invalid CSV ({exc})") from None
    return records_to_documents(records, filename, "csv", config)


LOADERS: dict[str, Callable[[bytes, str, IndexSettings], list[LoadedDocument]]] = {
    "markdown": load_markdown,
    "text": load_text,
    "html": load_html,
    "pdf": load_pdf,
    "docx": load_docx,
    "pptx": load_pptx,
    "xlsx": load_xlsx,
    "odt": load_odt,
    "json": load_json,
    "jsonl": load_jsonl,
    "csv": load_csv,
}


def load_bytes(data: bytes, filename: str, config: IndexSettings) -> list[LoadedDocument]:
    """Load one file's bytes into documents; raises an IndexerError subclass on bad input."""
    fmt = format_of(filename)
    documents = LOADERS[fmt](data, filename, config)
    if not documents:
        raise EmptyDocumentError(f"{filename}: no documents in the file")
    return documents
