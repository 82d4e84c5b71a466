"""Retrieval on a long real manual: the GNU Octave 7.3 manual (1,158 PDF pages, pdfTeX).

What a new user does with a product manual: index the PDF as it is, ask questions, and look for the
right page among the top 5. The 30 questions of ``benchmarks/qa/manual_qa.jsonl`` name the PDF
page(s) that answer them (1-based physical pages); each has an Italian translation, asked of the
same English manual (cross-lingual retrieval).

Per retriever configuration and language: hit@5 (a gold page among the top 5), MRR@5, how many of
the 150 results were navigation pages (table of contents, the alphabetical indexes at the end), how
many lists held two chunks of one page, and query latency (p50/p95, embedding included, warm).
``--haystack FILE`` adds the figures of ``benchmarks/haystack_manual.py`` (Haystack's standard hybrid
pipeline over the same PDF) to the table.

The manual is not in the repository (4.7 MB); Debian's ``octave-doc`` package carries it::

    apt-get download octave-doc && dpkg-deb -x octave-doc_*.deb octave-doc
    .venv/bin/python benchmarks/bench_manual.py --pdf octave-doc/usr/share/doc/octave/octave.pdf

Writes ``benchmarks/results/manual.{md,json}``. The index is kept in ``--index-dir`` (default: a
folder in the system's temporary directory) so that repeated runs embed the manual once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer import DocumentStore  # noqa: E402
from indexer.retriever import StoreRetriever  # noqa: E402
from indexer.schemas import SearchHit  # noqa: E402
from ragtune import models  # noqa: E402
from ragtune.settings import IndexSettings, get_settings  # noqa: E402
from services.evaluation import metrics  # noqa: E402

K = 5
NAMESPACE = "manual"


@dataclass(frozen=True)
class Config:
    """One retriever configuration of the table."""

    name: str
    mode: str
    candidates: int = 10
    per_section: int | None = None
    demote_navigation: bool = False


CONFIGS = [
    Config("dense", "dense"),
    Config("dense + both", "dense", per_section=1, demote_navigation=True),
    Config("bm25", "bm25"),
    Config("hybrid (10 each)", "hybrid"),
    Config("hybrid + navigation pages last", "hybrid", demote_navigation=True),
    Config("hybrid + 1 per page", "hybrid", per_section=1),
    Config("hybrid + both", "hybrid", per_section=1, demote_navigation=True),
    Config("hybrid (20 each) + both", "hybrid", candidates=20, per_section=1, demote_navigation=True),
]


@dataclass(frozen=True)
class Question:
    id: str
    text: dict[str, str]
    pages: frozenset[int]


def load_questions(path: Path) -> list[Question]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            text = {"en": raw["question"], **({"it": raw["question_it"]} if raw.get("question_it") else {})}
            items.append(Question(raw["id"], text, frozenset(raw["pages"])))
    return items


class PageLocator:
    """Finds the PDF page of a hit: its ``page`` field, else where its text starts in the manual."""

    def __init__(self, pdf: Path) -> None:
        from indexer.cleaning import clean_text, fix_pdf_text, pdf_vocabulary, strip_repeated_lines
        from indexer.pdf import read_pdf

        pages = read_pdf(pdf.read_bytes(), pdf.name).pages
        words = pdf_vocabulary(pages)
        pages = strip_repeated_lines([fix_pdf_text(p, words, False) for p in pages])
        self.starts: list[int] = []
        parts = []
        offset = 0
        for page in pages:
            flat = _flat(clean_text(page))
            self.starts.append(offset)
            parts.append(flat)
            offset += len(flat) + 1
        self.text = " ".join(parts)
        self.count = len(pages)

    def page(self, hit: SearchHit) -> int | None:
        page = getattr(hit, "page", None)
        if page is not None:
            return int(page)
        flat = _flat(hit.text)
        for start in (0, len(flat) // 2):
            found = self.text.find(flat[start : start + 60])
            if found >= 0:
                return _page_at(self.starts, found)
        return None


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _page_at(starts: list[int], offset: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low + 1


def parse_pages(spec: str) -> frozenset[int]:
    """``"3-16,1129-1158"`` → the pages in those ranges."""
    pages: set[int] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        first, _, last = part.partition("-")
        pages.update(range(int(first), int(last or first) + 1))
    return frozenset(pages)


def build(index_dir: Path, pdf: Path, chunk_tokens: int) -> tuple[DocumentStore, float, int]:
    settings = get_settings()
    embedder = models.resolve(settings.models.embedder, settings.models_dir)
    config = IndexSettings(chunk_tokens=chunk_tokens, chunk_overlap=min(32, chunk_tokens // 4))
    store = DocumentStore.open(index_dir / f"tokens-{chunk_tokens}", embedder, config)
    started = time.perf_counter()
    if not store.stats().chunks:
        store.add_paths([pdf], namespace=NAMESPACE)
    seconds = time.perf_counter() - started
    return store, seconds, store.stats().chunks


def make_retriever(store: DocumentStore, config: Config) -> StoreRetriever:
    """The configuration's retriever (``demote_navigation`` passed only when on, so the script also
    measures a checkout from before it existed)."""
    options = {"demote_navigation": True} if config.demote_navigation else {}
    return StoreRetriever(
        store,
        mode=config.mode,  # type: ignore[arg-type]
        candidates=config.candidates,
        per_section=config.per_section,
        **options,
    )


def measure(
    retriever: StoreRetriever, questions: list[Question], lang: str, pages: PageLocator, navigation: frozenset[int]
) -> dict:
    asked = [q for q in questions if lang in q.text]
    retriever.run(asked[0].text[lang], k=K, namespace=NAMESPACE)  # warm
    retriever.run(asked[1].text[lang], k=K, namespace=NAMESPACE)
    times: list[float] = []
    tops: dict[str, list[int | None]] = {}
    ends: dict[str, list[int | None]] = {}
    for q in asked:
        started = time.perf_counter()
        hits = retriever.run(q.text[lang], k=K, namespace=NAMESPACE)
        times.append((time.perf_counter() - started) * 1000)
        tops[q.id] = [pages.page(h) for h in hits]
        ends[q.id] = [getattr(h, "page_end", None) or page for h, page in zip(hits, tops[q.id], strict=True)]
    return {
        **score(tops, asked, navigation),
        "hits@5_spanned": score(tops, asked, navigation, ends)["hits@5"],
        "p50_ms": statistics.median(times),
        "p95_ms": _p95(times),
    }


def score(
    tops: dict[str, list[int | None]],
    questions: list[Question],
    navigation: frozenset[int],
    ends: dict[str, list[int | None]] | None = None,
) -> dict:
    """hit@5, MRR@5, navigation results and crowded lists of the top pages (where each result
    starts) per question id; with ``ends`` (the page each result ends on), a result counts as a hit
    when any page it covers is a gold page."""

    def covers(q: Question, start: int | None, end: int | None) -> bool:
        return start is not None and any(p in q.pages for p in range(start, (end or start) + 1))

    flags = [
        [covers(q, start, end) for start, end in zip(tops[q.id], (ends or tops)[q.id], strict=True)] for q in questions
    ]
    known = [[p for p in tops[q.id] if p is not None] for q in questions]
    return {
        "hits@5": int(sum(metrics.hit_at_k(f, K) for f in flags)),
        "questions": len(questions),
        "mrr@5": sum(metrics.reciprocal_rank(f, K) for f in flags) / len(questions),
        "navigation_results": sum(p in navigation for pages in known for p in pages),
        "crowded_lists": sum(len(set(pages)) < len(pages) for pages in known),
        "top_pages": tops,
    }


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def write(out: Path, report: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "manual.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    lines = [
        "# Retrieval on a 1,158-page manual",
        "",
        f"`benchmarks/bench_manual.py`: the GNU Octave 7.3 manual (PDF, pdfTeX, {report['pdf_pages']} pages), "
        f"30 questions with their gold pages (`benchmarks/qa/manual_qa.jsonl`), asked in English and in "
        f"Italian; top {K}. Embedder {report['embedder']}; load average {report['load'][0]:.1f} at the start, "
        f"{report['load'][1]:.1f} at the end (2 cores).",
        "",
        "| system | chunks | retriever | lang | hit@5 | hit@5 spanned | MRR@5 | navigation results | crowded lists "
        "| p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['system']} | {r['chunks']} | {r['retriever']} | {r['lang']} | {r['hits@5']}/{r['questions']} | "
            f"{r.get('hits@5_spanned', '–')} | "
            f"{r['mrr@5']:.3f} | {r['navigation_results']} | {r['crowded_lists']} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} |"
        )
    (out / "manual.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def haystack_rows(path: Path, questions: list[Question], navigation: frozenset[int]) -> list[dict]:
    """Rows of ``benchmarks/haystack_manual.py``'s JSON in this table's shape, scored here from its
    top-5 pages per question (the same gold pages, navigation pages and counting as ragtune's)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for lang in ("en", "it"):
        asked = [q for q in questions if lang in q.text]
        per_question = {item["id"]: item[lang] for item in raw["per_question"] if lang in item}
        tops = {q.id: per_question[q.id]["top5_pages"] for q in asked}
        times = [per_question[q.id]["latency_ms"] for q in asked]
        rows.append(
            {
                "system": f"Haystack {raw['haystack_version']}",
                "chunks": raw["splits"],
                "retriever": "hybrid (10 each, RRF), 150-word splits",
                "lang": lang,
                **score(tops, asked, navigation),
                "hits@5_spanned": sum(bool(per_question[q.id].get("hit_spanned")) for q in asked),
                "p50_ms": statistics.median(times),
                "p95_ms": _p95(times),
            }
        )
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Bars per system and retriever (English questions): hit@5, MRR@5, navigation results, p50."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        r for r in rows if r["lang"] == "en" and (r["system"].startswith("Haystack") or r["retriever"] in HEADLINE)
    ]
    labels = [f"{r['system']}\n{r['retriever']}" for r in shown]
    panels = [
        ("hit@5 (of 30)", "hits@5"),
        ("MRR@5", "mrr@5"),
        ("index / TOC pages in the top 5s", "navigation_results"),
        ("lists with 2 chunks of a page", "crowded_lists"),
        ("query p50 (ms)", "p50_ms"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 4.2))
    colours = ["#8da0cb" if r["system"].startswith("Haystack") else "#fc8d62" for r in shown]
    for axis, (title, key) in zip(axes, panels, strict=True):
        values = [r[key] for r in shown]
        axis.barh(range(len(shown)), values, color=colours)
        axis.set_yticks(range(len(shown)), labels if axis is axes[0] else [""] * len(shown), fontsize=7)
        axis.invert_yaxis()
        axis.set_title(title, fontsize=9)
        for y, value in enumerate(values):
            axis.text(value, y, f" {value:.3g}", va="center", fontsize=7)
    fig.suptitle("GNU Octave manual (1,158 pages), 30 English questions: Haystack vs ragtune", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


HEADLINE = ("hybrid (10 each)", "hybrid + both")
"""ragtune's retrievers in the plot: the default before and after this benchmark (all are in the table)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdf", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=REPO / "benchmarks/qa/manual_qa.jsonl")
    parser.add_argument("--chunk-tokens", type=int, default=IndexSettings().chunk_tokens)
    parser.add_argument("--index-dir", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-manual-index")
    parser.add_argument("--configs", default="", help="comma-separated configuration names (default: all)")
    parser.add_argument("--haystack", type=Path, help="the JSON of benchmarks/haystack_manual.py")
    parser.add_argument("--label", default="ragtune", help="the system's name in the table")
    parser.add_argument("--include", type=Path, nargs="*", default=[], help="rows of earlier runs (their JSON)")
    parser.add_argument(
        "--navigation-pages", default="3-16,1129-1158", help="the manual's contents and index pages (ranges)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    questions = load_questions(args.questions)
    navigation = parse_pages(args.navigation_pages)
    pages = PageLocator(args.pdf)
    load_start = os.getloadavg()[0]
    store, seconds, chunks = build(args.index_dir, args.pdf, args.chunk_tokens)
    print(f"index: {chunks} chunks ({seconds:.0f} s to build; 0 = cached)", flush=True)
    wanted = {c.strip() for c in args.configs.split(",") if c.strip()}
    rows: list[dict] = []
    report = {
        "pdf_pages": pages.count,
        "embedder": get_settings().models.embedder,
        "index_seconds": seconds,
        "load": [load_start, load_start],
        "rows": rows,
    }
    try:
        for config in CONFIGS:
            if wanted and config.name not in wanted:
                continue
            retriever = make_retriever(store, config)
            for lang in ("en", "it"):
                figures = measure(retriever, questions, lang, pages, navigation)
                rows.append({"system": args.label, "chunks": chunks, "retriever": config.name, "lang": lang, **figures})
                print(
                    f"{config.name:34} {lang} hit@5 {figures['hits@5']}/{figures['questions']} "
                    f"MRR {figures['mrr@5']:.3f} nav {figures['navigation_results']} "
                    f"crowded {figures['crowded_lists']} p50 {figures['p50_ms']:.1f} ms",
                    flush=True,
                )
                report["load"][1] = os.getloadavg()[0]
                write(args.out, report)
    finally:
        store.close()
    for path in args.include:
        rows.extend(json.loads(path.read_text(encoding="utf-8"))["rows"])
    if args.haystack:
        rows.extend(haystack_rows(args.haystack, questions, navigation))
    write(args.out, report)
    plot(rows, args.out / "manual.png")


if __name__ == "__main__":
    main()
