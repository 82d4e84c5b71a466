"""Office documents written by LibreOffice (tests/data/docs/README.md): DOCX, ODT, PPTX, XLSX."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import UnreadableDocumentError
from indexer.loaders import FORMATS, format_of, load_bytes
from indexer.office import sheet_text
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"
OFFICE = [
    "bathroom-libreoffice.docx",
    "kitchen-libreoffice.odt",
    "heat-pump-slides-libreoffice.pptx",
    "faq-workbook-libreoffice.xlsx",
]


def load(name: str):
    (doc,) = load_bytes((DOCS / name).read_bytes(), name, IndexSettings())
    return doc


def section(doc, title: str) -> str:
    return next(s.text for s in doc.sections if s.title == title)


def test_docx_headings_become_sections_and_tables_rows():
    doc = load("bathroom-libreoffice.docx")
    assert doc.format == "docx"
    assert doc.title == "Bathroom Waterproofing Checklist"
    assert [s.title for s in doc.sections] == [
        "Bathroom Waterproofing Checklist",
        "Before tiling",
        "Membrane",
        "Final inspection",
    ]
    assert "minimum total dry thickness of 0.5 millimetres" in section(doc, "Membrane")
    final = section(doc, "Final inspection")
    assert "Step | Drying time\nPrimer | 2 hours\nMembrane, each coat | 4 hours" in final
    assert "Nordbygg AB – quality document QD-12" in doc.sections[0].text


def test_odt_headings_become_sections():
    doc = load("kitchen-libreoffice.odt")
    assert doc.format == "odt"
    assert doc.title == "Kitchen Renovation Timeline"
    # the first heading is a text:p whose automatic style derives from "Heading 1"
    assert [s.title for s in doc.sections] == [
        "Kitchen Renovation Timeline",
        "Week 1: Demolition",
        "Weeks 2 to 3: Electrical and plumbing",
        "Weeks 4 to 6: Installation",
        "Final week",
    ]
    assert "Stone worktops need ten working days" in section(doc, "Weeks 4 to 6: Installation")


def test_pptx_one_section_per_slide_titled_by_the_slide():
    doc = load("heat-pump-slides-libreoffice.pptx")
    assert doc.format == "pptx"
    assert doc.title == "Heat Pump Service Training"
    assert [s.title for s in doc.sections] == [
        "Heat Pump Service Training",
        "Filters and airflow",
        "Service intervals",
        "Troubleshooting",
    ]
    assert "Clean the fine dust filter every three months" in section(doc, "Filters and airflow")
    assert "Filter cleaning | Every three months" in section(doc, "Service intervals")
    troubleshooting = section(doc, "Troubleshooting")
    assert "Outdoor unit iced for more than two hours" in troubleshooting
    assert "Error code E5 means low refrigerant pressure" in troubleshooting  # speaker notes
    assert all(s.title not in s.text for s in doc.sections)  # the title is not repeated as text


def test_xlsx_one_section_per_sheet_rows_with_their_headers():
    doc = load("faq-workbook-libreoffice.xlsx")
    assert doc.format == "xlsx"
    assert doc.title == "Nordbygg FAQ and drying times"
    assert [s.title for s in doc.sections] == ["FAQ", "Drying times"]
    faq = section(doc, "FAQ").splitlines()
    assert len(faq) == 3  # one line per record
    assert faq[0].startswith(
        "id: bygglov-001 | category: bygglov | q: What is a bygglov (building permit)? | a: A bygglov is"
    )
    drying = section(doc, "Drying times").splitlines()
    assert drying[0] == "Step: Primer | Drying time (hours): 2 | Note: before the first membrane coat"
    assert drying[2] == "Step: Tile adhesive | Drying time (hours): 24"  # empty cells left out


def test_sheet_without_header_is_rows_of_cells():
    assert sheet_text([["1", "2", ""], ["", "", ""], ["3", "", "x"]]) == "1 | 2\n3 |  | x"
    assert sheet_text([["Name", "Phone"], ["Anna", ""]]) == "Name: Anna"
    assert sheet_text([]) == ""


def test_office_formats_are_known():
    for name in OFFICE:
        assert FORMATS[Path(name).suffix] == format_of(name)


@pytest.mark.parametrize("name", OFFICE)
@pytest.mark.parametrize("damage", ["not a zip", "truncated"])
def test_corrupt_office_file_is_a_clear_400(name, damage):
    data = (DOCS / name).read_bytes()
    broken = b"PK\x03\x04 this is not an office file" if damage == "not a zip" else data[: len(data) // 2]
    with pytest.raises(UnreadableDocumentError) as err:
        load_bytes(broken, name, IndexSettings())
    assert err.value.status_code == 400
    message = str(err.value)
    assert message.startswith(f"{name}: not a readable ")
    assert "\n" not in message
