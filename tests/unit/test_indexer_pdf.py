"""PDFs as people make them: one manual from seven producers (tests/data/docs/README.md).

The regression for glued words: pdfTeX's justified two-column pages, where an extractor that
guesses word spaces badly returns lines like "Fitasilencerofatleastonemetreonboththesupply".
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest

from indexer.cleaning import clean_text
from indexer.errors import UnreadableDocumentError
from indexer.extraction_quality import WORD, glued_tokens
from indexer.loaders import load_bytes
from indexer.pdf import OutlineEntry, outline_sections
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"
MANUALS = [
    "ventilation-manual-pdftex-twocolumn.pdf",
    "ventilation-manual-pdftex-onecolumn.pdf",
    "ventilation-manual-pdftex-cmsuper.pdf",
    "ventilation-manual-xelatex.pdf",
    "ventilation-manual-lualatex.pdf",
    "ventilation-manual-libreoffice.pdf",
    "ventilation-manual-chromium.pdf",
]
OUTLINE = [
    "About this manual",
    "Safety instructions",
    "Installation",
    "Choosing the location",
    "Duct connections",
    "Condensate drain",
    "Operation",
    "Weekly programme",
    "Summer bypass",
    "Maintenance",
    "Changing the filters",
    "Cleaning the heat exchanger",
    "Troubleshooting",
    "Technical data",
]


def load(name: str):
    (doc,) = load_bytes((DOCS / name).read_bytes(), name, IndexSettings())
    return doc


def source_vocabulary() -> set[str]:
    html = (DOCS / "src" / "ventilation-manual.html").read_text()
    return set(WORD.findall(re.sub(r"<[^>]+>", " ", html).lower()))


@pytest.mark.parametrize("name", MANUALS)
def test_manual_words_keep_their_spaces(name):
    doc = load(name)
    text = clean_text("\n".join(s.text for s in doc.sections))
    assert glued_tokens(text, source_vocabulary()) == []
    assert "This section covers some information useful for users" in text
    # lines that pypdf glues on the two-column pdfTeX pages (benchmarks/results/indexer_extractors.md)
    assert "Fit a silencer of at least one metre on both the supply" in text
    assert "per cubic metre per second at sixty litres per second. Sound power level" in text
    assert "control board" in text and "condensation will drip" in text  # hyphenation repaired


def merged(doc) -> list[tuple[str, str]]:
    """(title, text) of the outline's sections: the pieces of one section on several pages joined."""
    out: list[tuple[str, str]] = []
    for s in doc.sections:
        if out and out[-1][0] == s.title:
            out[-1] = (s.title, out[-1][1] + "\n" + s.text)
        else:
            out.append((s.title, s.text))
    return out


@pytest.mark.parametrize("name", MANUALS)
def test_sections_come_from_the_outline(name):
    doc = load(name)
    assert doc.title == "FTX-400 Ventilation Unit: Installation and User Manual"
    titles = [title for title, _ in merged(doc)]
    assert [t for t in titles if t in OUTLINE] == OUTLINE
    sections = {title: clean_text(text) for title, text in merged(doc)}
    assert sections["Changing the filters"].startswith("Replace both filters every six months")
    assert "Alarm A3 means that the extract air sensor is faulty" in sections["Troubleshooting"]
    assert "Weight of seventy-two kilograms." in sections["Technical data"]
    assert not any(title in text for title, text in sections.items() if len(title) > 12)


def test_two_column_pdftex_outline_with_numbered_headings():
    doc = load("ventilation-manual-pdftex-twocolumn.pdf")
    sections = merged(doc)
    assert sections[0][0] == ""  # the title block before the first heading
    assert sections[0][1].startswith("FTX-400 Ventilation Unit")
    assert [title for title, _ in sections[1:]] == OUTLINE
    # "3.2 Duct connections" on the page: the number went with the heading line
    assert sections[5][1].startswith("Connect the four ducts")


def test_chromium_bookmark_spacing_is_taken_from_the_page():
    # Chromium's outline says "UserManual"; the page has "User Manual"
    doc = load("ventilation-manual-chromium.pdf")
    assert doc.sections[0].title == "FTX-400 Ventilation Unit: Installation and User Manual"


def test_outline_headings_not_found_cut_at_their_page():
    pages = ["Intro text.\n1 Scope\nScope text.", "Page two starts here.\nMore.", "Last page."]
    outline = [
        OutlineEntry(0, "Scope", 0),
        OutlineEntry(0, "Missing on page", 0),
        OutlineEntry(0, "Figures", 1),
        OutlineEntry(1, "Appendix A", 2),
    ]
    sections = outline_sections(pages, outline)
    assert [(s.title, s.text) for s in sections] == [
        ("", "Intro text."),
        ("Scope", "Scope text."),  # "Missing on page" is skipped: its page has no place for it
        ("Figures", "Page two starts here.\nMore."),
        ("Appendix A", "Last page."),
    ]


def test_sections_are_cut_at_page_ends_and_know_their_page():
    pages = ["Cover.\n1 Install\nStep one.", "Step two.\nStep three.", "2 Use\nPress start.", ""]
    outline = [OutlineEntry(0, "Install", 0), OutlineEntry(0, "Use", 2), OutlineEntry(0, "Empty", 3)]
    sections = outline_sections(pages, outline)
    assert [(s.title, s.text, s.page) for s in sections] == [
        ("", "Cover.", 1),
        ("Install", "Step one.", 1),
        ("Install", "Step two.\nStep three.", 2),
        ("Use", "Press start.", 3),
        ("Empty", "", 4),
    ]


def test_pdf_chunks_carry_their_page():
    doc = load("ventilation-manual-pdftex-twocolumn.pdf")
    assert all(s.page is not None and s.page >= 1 for s in doc.sections)
    assert [s.page for s in doc.sections] == sorted(s.page for s in doc.sections)
    assert len({s.page for s in doc.sections}) > 1


def test_heading_inside_a_sentence_is_not_a_cut():
    pages = ["Read the Installation part first.\n2 Installation\nMount the unit."]
    sections = outline_sections(pages, [OutlineEntry(0, "Installation", 0)])
    assert [(s.title, s.text) for s in sections] == [
        ("", "Read the Installation part first."),
        ("Installation", "Mount the unit."),
    ]


def test_encrypted_pdf_is_a_clear_400():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(DOCS / "kitchen-chromium.pdf"))
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnreadableDocumentError, match="locked.pdf: the PDF is encrypted"):
        load_bytes(buffer.getvalue(), "locked.pdf", IndexSettings())


def test_pdfs_load_from_several_threads_at_once():
    data = (DOCS / "ventilation-manual-pdftex-twocolumn.pdf").read_bytes()
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                (doc,) = load_bytes(data, "m.pdf", IndexSettings())
                results.append(len(doc.sections))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [16] * 12  # 15 outline sections, one of them on two pages


def test_line_end_hyphens_joined_unless_the_hyphen_belongs():
    from indexer.cleaning import fix_pdf_text, pdf_vocabulary

    pages = ["The con\ufffetrol board, twenty\ufffetwo degrees and con-\ntrol again.", "two ways"]
    words = pdf_vocabulary(pages)
    assert "con" not in words and "trol" not in words and "two" in words
    assert fix_pdf_text(pages[0], words) == ("The control board, twenty-two degrees and control again.")
    assert fix_pdf_text("a high\ufffepressure washer", keep_hyphens=True) == "a high-pressure washer"
    assert fix_pdf_text("a high-\npressure washer") == "a highpressure washer"  # no vocabulary
