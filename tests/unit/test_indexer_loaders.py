"""Loaders on the shipped real files (pdfTeX, LibreOffice, Chromium PDFs; Hugo/WordPress/Sphinx HTML).

Office documents and the PDF outline have their own tests in test_indexer_office.py and
test_indexer_pdf.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.cleaning import clean_text
from indexer.errors import EmptyDocumentError, UnreadableDocumentError, UnsupportedFormatError
from indexer.loaders import format_of, load_bytes
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"


def load(name: str, config: IndexSettings | None = None):
    return load_bytes((DOCS / name).read_bytes(), name, config or IndexSettings())


def full_text(name: str) -> str:
    (doc,) = load(name)
    return clean_text("\n".join(s.text for s in doc.sections))


def test_markdown_sections_front_matter_and_code_blocks():
    (doc,) = load("roof-guide.md")
    assert doc.title == "Roof Maintenance Guide"
    titles = [s.title for s in doc.sections]
    assert titles == ["Roof Maintenance Guide", "Roof tiles", "Flashing and chimney", "Moss"]
    tiles = doc.sections[1].text
    assert "# this line is code, not a heading" in tiles  # fenced code stays inside its section
    assert "author:" not in " ".join(s.text for s in doc.sections)


def test_plain_text_keeps_paragraphs():
    (doc,) = load("site-office.txt")
    assert doc.title == "site-office"
    assert "07:00 to 16:00" in doc.sections[0].text
    assert "\n\n" in doc.sections[0].text


@pytest.mark.parametrize(
    "name, title, sections, body, absent",
    [
        (
            "winter-roof-hugo.html",
            "Winter roof safety",
            ["When to clear snow", "Icicles and falling ice", "Gutters and heating cables"],
            "150 kilograms of snow per square metre",
            ["Contact us today", "Related posts", "Autumn checklist", "Powered by Hugo", "Privacy policy"],
        ),
        (
            "windows-wordpress.html",
            "Choosing new windows for an older house",
            ["Renovate or replace?", "Building permit", "Installation"],
            "U-value of 0.8 to 1.0",
            ["cookies", "Skip to content", "Recent Posts", "Great article", "Request a quote", "All rights reserved"],
        ),
        (
            "warranty-sphinx.html",
            "Warranty and complaints",
            ["Warranty and complaints", "Warranty period", "Reporting a defect", "Disputes"],
            "warranty period of two years from the final inspection",
            ["Quick search", "Navigation", "Powered by", "Page source", "Previous:"],
        ),
    ],
)
def test_html_main_text_without_navigation(name, title, sections, body, absent):
    (doc,) = load(name)
    assert doc.title == title
    titles = [s.title for s in doc.sections]
    for expected in sections:
        assert expected in titles
    assert all("¶" not in t for t in titles)
    text = full_text(name)
    assert body in text
    for noise in absent:
        assert noise not in text, noise


@pytest.mark.parametrize(
    "name, title, first_section, phrases",
    [
        (
            "heat-pump-latex.pdf",
            "Heat Pump Maintenance Guide",
            "page 1",  # no outline: pages
            [
                "fine dust filter",
                "the airflow and the efficiency",
                "Professional offices",
                "defrosts itself automatically",
                "Error code E5 means low refrigerant pressure",
            ],
        ),
        (
            "bathroom-libreoffice.pdf",
            "Bathroom Waterproofing Checklist",
            "",  # outline: headings
            ["industry rules for wet rooms (GVK or BKR)", "minimum total dry thickness of 0.5 millimetres"],
        ),
        (
            "kitchen-chromium.pdf",
            "Kitchen Renovation Timeline",
            "page 1",
            ["six to eight weeks from demolition", "Stone worktops need ten working days"],
        ),
    ],
)
def test_pdf_text_from_three_producers(name, title, first_section, phrases):
    (doc,) = load(name)
    assert doc.title == title
    assert doc.sections[0].title == first_section
    text = full_text(name)
    for phrase in phrases:
        assert phrase in text, phrase
    assert not any(ord(c) < 32 and c not in "\n\t" for c in text)  # no glyph codes left


def test_pdf_page_numbers_dropped():
    (doc,) = load("heat-pump-latex.pdf")
    assert len(doc.sections) == 2
    assert clean_text(doc.sections[-1].text).splitlines()[-1] != "2"


@pytest.mark.parametrize("name, count", [("faq-records.json", 6), ("faq-records.jsonl", 4), ("faq-records.csv", 3)])
def test_records_one_document_each(name, count):
    docs = load(name)
    assert len(docs) == count
    first = docs[0]
    assert first.key == "bygglov-001"
    assert first.title == "What is a bygglov (building permit)?"
    assert first.sections[0].text.startswith("A bygglov is an official decision")
    assert first.metadata["category"] == "bygglov"
    assert "id" not in first.metadata and "a" not in first.metadata


def test_records_text_field_is_configurable(tmp_path):
    data = b'{"ref": "x1", "body_sv": "Hej", "question": "Q"}\n'
    with pytest.raises(UnreadableDocumentError, match="record_text_fields"):
        load_bytes(data, "r.jsonl", IndexSettings())
    (doc,) = load_bytes(data, "r.jsonl", IndexSettings(record_text_fields=["body_sv"], record_id_fields=["ref"]))
    assert doc.key == "x1" and doc.sections[0].text == "Hej" and doc.title == "Q"


def test_unknown_format_is_415():
    with pytest.raises(UnsupportedFormatError) as err:
        format_of("slides.key")
    assert err.value.status_code == 415


@pytest.mark.parametrize(
    "name, data, error",
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", UnreadableDocumentError),
        ("notes.txt", b"\x00\x01\x02binary\x00", UnreadableDocumentError),
        ("data.json", b"{not json", UnreadableDocumentError),
        ("rows.jsonl", b'{"text": "ok"}\n{broken\n', UnreadableDocumentError),
    ],
)
def test_unreadable_files_raise_clear_errors(name, data, error):
    with pytest.raises(error) as err:
        load_bytes(data, name, IndexSettings())
    assert name in str(err.value)
    assert err.value.status_code == 400


def test_pdf_without_text_is_empty_error():
    # A valid PDF with one blank page: no extractable text.
    from io import BytesIO

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = BytesIO()
    writer.write(buffer)
    with pytest.raises(EmptyDocumentError, match="OCR"):
        load_bytes(buffer.getvalue(), "scan.pdf", IndexSettings())


def test_latin1_text_is_decoded():
    text = (
        "Takläggning på hösten kräver att man kontrollerar plåtarbeten och hängrännor. "
        "Även skorstenen måste ses över innan vintern, så att inga läckor uppstår."
    )
    (doc,) = load_bytes(text.encode("latin-1"), "n.txt", IndexSettings())
    assert "Takläggning" in doc.sections[0].text
