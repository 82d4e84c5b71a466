"""Compare text extractors on the shipped real files (tests/data/docs) against their known text.

PDF: one manual (tests/data/docs/src/ventilation-manual.*) from seven producers (pdfTeX two- and
one-column, pdfTeX with cm-super fonts, XeLaTeX, LuaLaTeX, LibreOffice, Chromium) plus the older
three test PDFs, through pypdf, pdfminer.six, pypdfium2 (each raw), pypdf + ragtune's repair (the
loader before pypdfium2) and ragtune's loader (pypdfium2 + repair + outline sections).
HTML: trafilatura as the loader calls it, trafilatura defaults, jusText, and a naive ``lxml``
text_content() of the whole page. Office (DOCX, ODT, PPTX, XLSX written by LibreOffice): ragtune's
loaders, and markitdown when ``--markitdown-python`` names an interpreter that has it (it is no
dependency of ragtune: markitdown pulls in magika + onnxruntime and has no ODT reader).

Metrics:
- word-level recall (share of the reference words found, as a multiset), precision (share of
  extracted words that belong to the reference: navigation, running headers and page numbers
  lower it) and F1;
- glued-word rate: an extracted token (lower-cased run of letters and digits) that is no word of
  the reference but splits into two or more reference words ("fitasilencerofatleast") is glued
  (numbers never are; pieces are at least two letters long, or "a");
  the rate is the share of words that came out glued to a neighbour:
  Σ pieces of glued tokens / (tokens − glued tokens + Σ pieces). 0 is perfect. (The issue's
  66-page manual: 2,159 of 9,394 words glued = 23 %.)
- fi/fl/ff words lost: reference words with a ligature that are missing (TeX glyph codes);
- ms: extraction time of the file (median of 3, one thread; a shared machine: read ratios);
  markitdown's includes its interpreter's start (a subprocess), so only its quality compares.

Run:  .venv/bin/python benchmarks/bench_indexer_extractors.py [--markitdown-python PATH]
Writes benchmarks/results/indexer_extractors.md, .json and .png.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from indexer.extraction_quality import WORD, glued_tokens

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "tests" / "data" / "docs"
SRC = DOCS / "src"
RESULTS = REPO / "benchmarks" / "results"


def words(text: str) -> Counter[str]:
    return Counter(WORD.findall(text.lower()))


def scores(reference: str, extracted: str) -> dict[str, float]:
    ref, got = words(reference), words(extracted)
    common = sum((ref & got).values())
    recall = common / max(sum(ref.values()), 1)
    precision = common / max(sum(got.values()), 1)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}


def glued_rate(reference: str, extracted: str) -> tuple[float, list[str]]:
    """Share of words glued to a neighbour (see the docstring) and a few glued tokens."""
    vocabulary = set(words(reference))
    glued = glued_tokens(extracted, vocabulary)
    glued_words = sum(n for _, n in glued)
    total = len(WORD.findall(extracted.lower())) - len(glued) + glued_words
    return glued_words / max(total, 1), [t for t, _ in glued[:4]]


def mangled(reference: str, extracted: str) -> int:
    """Reference words containing fi/fl/ff that are missing from the extracted text."""
    got = words(extracted)
    return len([w for w in words(reference) if re.search("ffi|ffl|ff|fi|fl", w) and w not in got])


# --- references: the text each file really holds -------------------------------------------
def html_text(html: str, xpath: str) -> str:
    import lxml.html

    tree = lxml.html.fromstring(html)
    for junk in tree.xpath(
        "//a[@class='headerlink'] | //script | //style | //div[@class='post-meta'] | //div[@class='entry-meta']"
    ):
        junk.drop_tree()
    return "\n".join(node.text_content() for node in tree.xpath(xpath))


def latex_text(tex: str) -> str:
    body = tex.split(r"\begin{document}", 1)[1].split(r"\end{document}", 1)[0]
    body = body.replace(r"\maketitle", "Heat Pump Maintenance Guide Nordbygg AB November 2026")
    body = re.sub(r"\\section\{([^}]*)\}", r"\1", body)
    body = re.sub(r"\\[a-z]+(\{[^}]*\})?", " ", body)
    return body.replace("--", "–")


def odf_text(name: str) -> str:
    """All text of a flat OpenDocument source (the slides' and the workbook's known text)."""
    import lxml.etree

    tree = lxml.etree.parse(str(SRC / name))
    ns = {"text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    return "\n".join("".join(p.itertext()) for p in tree.iterfind(".//text:p", ns))


def manual() -> str:
    return html_text((SRC / "ventilation-manual.html").read_text(), "//body")


PRODUCERS: dict[str, str] = {
    "ventilation-manual-pdftex-twocolumn.pdf": "pdfTeX 1.40, two columns, Latin Modern, microtype",
    "ventilation-manual-pdftex-onecolumn.pdf": "pdfTeX 1.40, one column, Computer Modern (OT1)",
    "ventilation-manual-pdftex-cmsuper.pdf": "pdfTeX 1.40, two columns, cm-super (T1)",
    "ventilation-manual-xelatex.pdf": "XeLaTeX (xdvipdfmx), two columns, Latin Modern OpenType",
    "ventilation-manual-lualatex.pdf": "LuaLaTeX 1.15, two columns, Latin Modern OpenType",
    "ventilation-manual-libreoffice.pdf": "LibreOffice Writer 7.4",
    "ventilation-manual-chromium.pdf": "Chromium 156 (Skia/PDF)",
    "heat-pump-latex.pdf": "pdfTeX 1.40, T1 bitmap (Type 3) fonts, no outline",
    "bathroom-libreoffice.pdf": "LibreOffice Writer 7.4",
    "kitchen-chromium.pdf": "Chromium 156 (Skia/PDF)",
    "bathroom-libreoffice.docx": "LibreOffice 7.4 (from HTML)",
    "kitchen-libreoffice.odt": "LibreOffice 7.4 (from HTML)",
    "heat-pump-slides-libreoffice.pptx": "LibreOffice Impress 7.4",
    "faq-workbook-libreoffice.xlsx": "LibreOffice Calc 7.4",
    "winter-roof-hugo.html": "Hugo (PaperMod)",
    "windows-wordpress.html": "WordPress",
    "warranty-sphinx.html": "Sphinx (Alabaster)",
}

REFERENCES: dict[str, Callable[[], str]] = {
    **{name: manual for name in PRODUCERS if name.startswith("ventilation-manual-")},
    "heat-pump-latex.pdf": lambda: latex_text((SRC / "heat-pump.tex").read_text()),
    "bathroom-libreoffice.pdf": lambda: html_text((SRC / "bathroom.html").read_text(), "//body"),
    "kitchen-chromium.pdf": lambda: html_text((SRC / "kitchen.html").read_text(), "//body"),
    "bathroom-libreoffice.docx": lambda: html_text((SRC / "bathroom.html").read_text(), "//body"),
    "kitchen-libreoffice.odt": lambda: html_text((SRC / "kitchen.html").read_text(), "//body"),
    "heat-pump-slides-libreoffice.pptx": lambda: odf_text("heat-pump-slides.fodp"),
    "faq-workbook-libreoffice.xlsx": lambda: odf_text("faq-workbook.fods"),
    "winter-roof-hugo.html": lambda: html_text(
        (DOCS / "winter-roof-hugo.html").read_text(), "//h1 | //div[@class='post-content']"
    ),
    "windows-wordpress.html": lambda: html_text(
        (DOCS / "windows-wordpress.html").read_text(), "//h1 | //div[@class='entry-content']"
    ),
    "warranty-sphinx.html": lambda: html_text((DOCS / "warranty-sphinx.html").read_text(), "//div[@class='body']"),
}


# --- extractors ---------------------------------------------------------------------------
def pypdf_plain(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def pypdf_repaired(data: bytes) -> str:
    """What ragtune's loader did before pypdfium2: pypdf, then the ligature / hyphen repair."""
    from pypdf import PdfReader

    from indexer.cleaning import fix_pdf_text

    return "\n".join(fix_pdf_text(p.extract_text() or "") for p in PdfReader(io.BytesIO(data)).pages)


def ragtune_loader(name: str) -> Callable[[bytes], str]:
    def extract(data: bytes) -> str:
        from indexer.cleaning import clean_text
        from indexer.loaders import load_bytes
        from ragtune.settings import IndexSettings

        docs = load_bytes(data, name, IndexSettings())
        return "\n".join(
            clean_text(s.title + "\n" + s.text) if not s.title.startswith("page ") else clean_text(s.text)
            for d in docs
            for s in d.sections
        )

    return extract


def pdfminer_text(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def pdfium_text(data: bytes) -> str:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def trafilatura_default(data: bytes) -> str:
    import trafilatura

    return trafilatura.extract(data.decode()) or ""


def justext_text(data: bytes) -> str:
    import justext

    paragraphs = justext.justext(data, justext.get_stoplist("English"))
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def naive_lxml(data: bytes) -> str:
    import lxml.html

    tree = lxml.html.fromstring(data)
    for junk in tree.xpath("//script | //style"):
        junk.drop_tree()
    return tree.text_content()


def markitdown_with(python: str, name: str) -> Callable[[bytes], str]:
    def extract(_data: bytes) -> str:
        done = subprocess.run(
            [python, "-m", "markitdown", str(DOCS / name)], capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout

    return extract


def available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


LOADER = "ragtune loader"


def extractors_for(name: str, markitdown_python: str | None) -> dict[str, Callable[[bytes], str]]:
    suffix = Path(name).suffix
    if suffix == ".pdf":
        return {
            "pypdf": pypdf_plain,
            "pdfminer.six": pdfminer_text,
            "pypdfium2": pdfium_text,
            "pypdf + repair (old loader)": pypdf_repaired,
            f"{LOADER} (pypdfium2 + repair)": ragtune_loader(name),
        }
    if suffix in {".docx", ".odt", ".pptx", ".xlsx"}:
        found = {LOADER: ragtune_loader(name)}
        if markitdown_python and suffix != ".odt":
            found["markitdown"] = markitdown_with(markitdown_python, name)
        return found
    found = {
        f"{LOADER} (trafilatura md)": ragtune_loader(name),
        "trafilatura default": trafilatura_default,
        "lxml whole page": naive_lxml,
    }
    if available("justext"):
        found["jusText"] = justext_text
    return found


def timed(extract: Callable[[bytes], str], data: bytes) -> tuple[str, float]:
    times, text = [], ""
    for _ in range(3):
        start = time.perf_counter()
        text = extract(data)
        times.append(time.perf_counter() - start)
    return text, statistics.median(times) * 1000


def measure(markitdown_python: str | None) -> list[dict]:
    rows: list[dict] = []
    for name, reference_of in REFERENCES.items():
        reference = reference_of()
        data = (DOCS / name).read_bytes()
        for extractor, extract in extractors_for(name, markitdown_python).items():
            row = {"file": name, "producer": PRODUCERS[name], "extractor": extractor}
            try:
                text, ms = timed(extract, data)
            except Exception as exc:  # noqa: BLE001 - a failing extractor is a result too
                rows.append({**row, "error": str(exc)[:80]})
                continue
            rate, examples = glued_rate(reference, text)
            rows.append(
                {
                    **row,
                    **scores(reference, text),
                    "glued_rate": rate,
                    "glued_examples": examples,
                    "ligature_words_lost": mangled(reference, text),
                    "ms": ms,
                }
            )
    return rows


def table(rows: list[dict], kind: Callable[[str], bool]) -> str:
    lines = [
        (
            "| file | producer | extractor | recall | precision | F1 | glued words | fi/fl/ff lost "
            "| ms | glued examples |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not kind(r["file"]):
            continue
        if "error" in r:
            lines.append(f"| {r['file']} | {r['producer']} | {r['extractor']} | error: {r['error']} | | | | | | |")
            continue
        examples = ", ".join(f"`{e[:40]}`" for e in r["glued_examples"])
        lines.append(
            f"| {r['file']} | {r['producer']} | {r['extractor']} | {r['recall']:.3f} | "
            f"{r['precision']:.3f} | {r['f1']:.3f} | {100 * r['glued_rate']:.1f} % | "
            f"{r['ligature_words_lost']} | {r['ms']:.1f} | {examples} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Per PDF library: mean F1, mean and worst glued-word rate, total fi/fl/ff lost, time."""
    lines = [
        ("| PDF extractor | mean F1 | mean glued words | worst glued words (file) | fi/fl/ff lost | total ms |"),
        "|---|---|---|---|---|---|",
    ]
    pdf_rows = [r for r in rows if r["file"].endswith(".pdf") and "error" not in r]
    for extractor in dict.fromkeys(r["extractor"] for r in pdf_rows):
        mine = [r for r in pdf_rows if r["extractor"] == extractor]
        worst = max(mine, key=lambda r: r["glued_rate"])
        lines.append(
            f"| {extractor} | {statistics.mean(r['f1'] for r in mine):.3f} | "
            f"{100 * statistics.mean(r['glued_rate'] for r in mine):.2f} % | "
            f"{100 * worst['glued_rate']:.1f} % ({worst['file']}) | "
            f"{sum(r['ligature_words_lost'] for r in mine)} | "
            f"{sum(r['ms'] for r in mine):.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pdf_rows = [r for r in rows if r["file"].endswith(".pdf") and "error" not in r]
    files = list(dict.fromkeys(r["file"] for r in pdf_rows))
    extractors = list(dict.fromkeys(r["extractor"] for r in pdf_rows))
    fig, axes = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    width = 0.8 / len(extractors)
    for i, extractor in enumerate(extractors):
        by_file = {r["file"]: r for r in pdf_rows if r["extractor"] == extractor}
        xs = [j + (i - (len(extractors) - 1) / 2) * width for j in range(len(files))]
        axes[0].bar(xs, [100 * by_file[f]["glued_rate"] for f in files], width, label=extractor)
        axes[1].bar(xs, [by_file[f]["f1"] for f in files], width, label=extractor)
    axes[0].set_ylabel("glued words (%)")
    axes[0].set_title("PDF text extraction by producer: glued words (lower is better)")
    axes[1].set_ylabel("word F1 vs known text")
    axes[1].set_ylim(0.75, 1.0)
    axes[1].set_title("Extraction F1 (higher is better)")
    axes[1].set_xticks(range(len(files)))
    axes[1].set_xticklabels(
        [f.removesuffix(".pdf").replace("ventilation-manual-", "manual ") for f in files], rotation=30, ha="right"
    )
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markitdown-python", help="a Python interpreter with markitdown installed")
    args = parser.parse_args()
    rows = measure(args.markitdown_python)
    pdf = table(rows, lambda f: f.endswith(".pdf"))
    office = table(rows, lambda f: f.endswith((".docx", ".odt", ".pptx", ".xlsx")))
    html = table(rows, lambda f: f.endswith(".html"))
    overview = summary(rows)
    print(overview, pdf, office, html, sep="\n\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "indexer_extractors.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    plot(rows, RESULTS / "indexer_extractors.png")
    (RESULTS / "indexer_extractors.md").write_text(
        "# Text extraction quality on the shipped test files\n\n"
        "Word recall / precision / F1 against the files' known text, glued-word rate and time "
        "(definitions in `benchmarks/bench_indexer_extractors.py`). Files and how each was made: "
        "`tests/data/docs/README.md`.\n\n"
        "## PDF libraries over all ten PDFs\n\n" + overview + "\n\n"
        "![glued words and F1 per producer and library](indexer_extractors.png)\n\n"
        "## PDF, per producer\n\n" + pdf + "\n\n## Office documents\n\n" + office + "\n\n## HTML\n\n" + html + "\n"
    )


if __name__ == "__main__":
    main()
