"""Compare text extractors on the shipped real files (tests/data/docs) against their known text.

PDF: pypdf (plain and layout mode), pypdf + ragtune's repair (what the loader uses), pdfminer.six
and pypdfium2 when installed. HTML: trafilatura as the loader calls it, trafilatura defaults,
jusText, and a naive ``lxml`` text_content() of the whole page as the baseline.

Metric: word-level recall (share of the reference words found, as a multiset), precision (share
of extracted words that belong to the reference: navigation and boilerplate lower it) and F1;
plus "broken": words of the reference that only appear mangled (ligatures, hyphenation).
Run:  .venv/bin/python benchmarks/bench_indexer_extractors.py
Writes benchmarks/results/indexer_extractors.md and .json.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "tests" / "data" / "docs"
RESULTS = REPO / "benchmarks" / "results"
WORD = re.compile(r"[a-z0-9åäöé]+")


def words(text: str) -> Counter[str]:
    return Counter(WORD.findall(text.lower()))


def scores(reference: str, extracted: str) -> dict[str, float]:
    ref, got = words(reference), words(extracted)
    common = sum((ref & got).values())
    recall = common / max(sum(ref.values()), 1)
    precision = common / max(sum(got.values()), 1)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}


# --- references: the text each file really holds -------------------------------------------
def html_text(html: str, xpath: str) -> str:
    import lxml.html

    tree = lxml.html.fromstring(html)
    for junk in tree.xpath("//a[@class='headerlink'] | //script | //style | //div[@class='post-meta']"
                           " | //div[@class='entry-meta']"):
        junk.drop_tree()
    return "\n".join(node.text_content() for node in tree.xpath(xpath))


def latex_text(tex: str) -> str:
    body = tex.split(r"\begin{document}", 1)[1].split(r"\end{document}", 1)[0]
    body = body.replace(r"\maketitle", "Heat Pump Maintenance Guide Nordbygg AB November 2026")
    body = re.sub(r"\\section\{([^}]*)\}", r"\1", body)
    body = re.sub(r"\\[a-z]+(\{[^}]*\})?", " ", body)
    return body.replace("--", "–")


REFERENCES: dict[str, Callable[[], str]] = {
    "heat-pump-latex.pdf": lambda: latex_text((DOCS / "src" / "heat-pump.tex").read_text()),
    "bathroom-libreoffice.pdf": lambda: html_text((DOCS / "src" / "bathroom.html").read_text(), "//body"),
    "kitchen-chromium.pdf": lambda: html_text((DOCS / "src" / "kitchen.html").read_text(), "//body"),
    "winter-roof-hugo.html": lambda: html_text((DOCS / "winter-roof-hugo.html").read_text(),
                                               "//h1 | //div[@class='post-content']"),
    "windows-wordpress.html": lambda: html_text((DOCS / "windows-wordpress.html").read_text(),
                                                "//h1 | //div[@class='entry-content']"),
    "warranty-sphinx.html": lambda: html_text((DOCS / "warranty-sphinx.html").read_text(),
                                              "//div[@class='body']"),
}


# --- extractors ---------------------------------------------------------------------------
def pypdf_plain(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def pypdf_layout(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text(extraction_mode="layout") or "" for p in PdfReader(io.BytesIO(data)).pages)


def ragtune_loader(name: str) -> Callable[[bytes], str]:
    def extract(data: bytes) -> str:
        from indexer.cleaning import clean_text
        from indexer.loaders import load_bytes
        from ragtune.settings import IndexSettings

        docs = load_bytes(data, name, IndexSettings())
        return "\n".join(clean_text(s.title + "\n" + s.text) if not s.title.startswith("page ")
                         else clean_text(s.text) for d in docs for s in d.sections)
    return extract


def pdfminer_text(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def pdfium_text(data: bytes) -> str:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


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


def available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def extractors_for(name: str) -> dict[str, Callable[[bytes], str]]:
    if name.endswith(".pdf"):
        found = {"pypdf": pypdf_plain, "pypdf layout": pypdf_layout,
                 "ragtune (pypdf + repair)": ragtune_loader(name)}
        if available("pdfminer"):
            found["pdfminer.six"] = pdfminer_text
        if available("pypdfium2"):
            found["pypdfium2"] = pdfium_text
        return found
    found = {"ragtune (trafilatura md)": ragtune_loader(name),
             "trafilatura default": trafilatura_default, "lxml whole page": naive_lxml}
    if available("justext"):
        found["jusText"] = justext_text
    return found


def mangled(reference: str, extracted: str) -> int:
    """Reference words containing fi/fl/ff that are missing while a glyph-code form is present."""
    got = words(extracted)
    suspects = [w for w in words(reference) if re.search("ffi|ffl|ff|fi|fl", w) and w not in got]
    return len(suspects)


def main() -> None:
    rows = []
    for name, reference_of in REFERENCES.items():
        reference = reference_of()
        data = (DOCS / name).read_bytes()
        for extractor, extract in extractors_for(name).items():
            try:
                text = extract(data)
            except Exception as exc:  # noqa: BLE001 - a failing extractor is a result too
                rows.append({"file": name, "extractor": extractor, "error": str(exc)[:80]})
                continue
            rows.append({"file": name, "extractor": extractor, **scores(reference, text),
                         "ligature_words_lost": mangled(reference, text)})
    lines = ["| file | extractor | recall | precision | F1 | fi/fl/ff words lost |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['file']} | {r['extractor']} | error: {r['error']} | | | |")
        else:
            lines.append(f"| {r['file']} | {r['extractor']} | {r['recall']:.3f} | {r['precision']:.3f} "
                         f"| {r['f1']:.3f} | {r['ligature_words_lost']} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "indexer_extractors.json").write_text(json.dumps(rows, indent=2))
    (RESULTS / "indexer_extractors.md").write_text(
        "# Text extraction quality on the shipped test files\n\n"
        "Word recall / precision against the files' known text (see the script's docstring).\n\n"
        + table + "\n")


if __name__ == "__main__":
    main()
