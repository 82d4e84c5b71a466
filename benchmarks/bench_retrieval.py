"""Retrieval quality and speed per retriever configuration, on two question sets.

- ``sample``: ``benchmarks/qa/sample_qa.jsonl`` (48 answerable questions) over the sample corpus
  (the Zaragoza FAQ, one Markdown document per category); a hit is a chunk of the gold section or
  one holding the supporting text, as ``ragtune eval`` counts it.
- ``held-out``: ``tests/data/docs/labelled-queries.json`` (40 paraphrased and keyword queries written
  for the indexer tests, never used to tune anything here) over another index: its five FAQ
  categories plus the shipped test documents (roof guide, web pages, PDFs, the ventilation manual)
  as distractors; a hit is a chunk of the labelled section.

Per configuration: hit@1, hit@5, MRR@5, the share of top-5 lists holding two or more chunks of one
section (crowding), and query latency p50 (embedding included, warm). Writes
``benchmarks/results/retrieval.{md,json}``::

    .venv/bin/python benchmarks/bench_retrieval.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer import DocumentStore  # noqa: E402
from indexer.retriever import StoreRetriever  # noqa: E402
from indexer.sample import build_sample_corpus  # noqa: E402
from ragtune import models  # noqa: E402
from ragtune.settings import IndexSettings, get_settings  # noqa: E402
from services.evaluation import metrics  # noqa: E402
from services.evaluation.datasets import load_qa  # noqa: E402

DOCS = REPO / "tests" / "data" / "docs"
SHIPPED = [
    "roof-guide.md",
    "site-office.txt",
    "winter-roof-hugo.html",
    "windows-wordpress.html",
    "warranty-sphinx.html",
    "heat-pump-latex.pdf",
    "bathroom-libreoffice.pdf",
    "kitchen-chromium.pdf",
    "ventilation-manual-libreoffice.pdf",
]
K = 5
# name → (mode, candidates per retriever, rrf_k, at most this many chunks per section, navigation last)
RETRIEVERS = {
    "dense": ("dense", 50, 60, None, False),
    "bm25": ("bm25", 50, 60, None, False),
    "hybrid (50 each, RRF 60)": ("hybrid", 50, 60, None, False),
    "hybrid (10 each, RRF 60)": ("hybrid", 10, 60, None, False),
    "hybrid (50 each) + 1 per section": ("hybrid", 50, 60, 1, False),
    "hybrid (10 each) + 1 per section": ("hybrid", 10, 60, 1, False),
    "hybrid (10 each) + 1 per section + navigation last (default)": ("hybrid", 10, 60, 1, True),
}


def questions() -> dict[str, tuple[str, list[tuple[str, str | None, str | None]]]]:
    """Set → (namespace, [(query, gold section, supporting text)])."""
    sample = [
        (i.question, i.gold_section, i.support) for i in load_qa(REPO / "benchmarks/qa/sample_qa.jsonl") if i.answerable
    ]
    labelled = json.loads((DOCS / "labelled-queries.json").read_text(encoding="utf-8"))
    held_out = [(q["query"], q["section"], None) for q in labelled["queries"]]
    return {"sample": ("default", sample), "held-out": ("heldout", held_out)}


def relevant(hit, section: str | None, support: str | None) -> bool:
    if section and hit.section and metrics.normalize(hit.section) == metrics.normalize(section):
        return True
    return bool(support) and metrics.supports(hit.text, support)


def build(root: Path, chunk_tokens: int) -> DocumentStore:
    settings = get_settings()
    embedder = models.resolve(settings.models.embedder, settings.models_dir)
    store = DocumentStore.open(
        root / f"index-{chunk_tokens}",
        embedder,
        IndexSettings(chunk_tokens=chunk_tokens, chunk_overlap=min(32, chunk_tokens // 4)),
    )
    corpus = {p.stem: p for p in build_sample_corpus(root / "corpus")}
    store.add_paths(list(corpus.values()), namespace="default")
    labelled = json.loads((DOCS / "labelled-queries.json").read_text(encoding="utf-8"))
    store.add_paths([corpus[c] for c in labelled["categories"]] + [DOCS / n for n in SHIPPED], namespace="heldout")
    return store


def measure(
    store: DocumentStore, retriever: StoreRetriever, namespace: str, items: list[tuple[str, str | None, str | None]]
) -> dict[str, float]:
    retriever.run(items[0][0], k=K, namespace=namespace)  # warm
    hit1 = hit5 = rr = crowded = 0.0
    times = []
    for query, section, support in items:
        started = time.perf_counter()
        hits = retriever.run(query, k=K, namespace=namespace)
        times.append((time.perf_counter() - started) * 1000)
        flags = [relevant(h, section, support) for h in hits]
        hit1 += metrics.hit_at_k(flags, 1)
        hit5 += metrics.hit_at_k(flags, K)
        rr += metrics.reciprocal_rank(flags, K)
        keys = [(h.doc_id, h.section) for h in hits]
        crowded += len(set(keys)) < len(keys)
    n = len(items)
    return {
        "hit@1": hit1 / n,
        "hit@5": hit5 / n,
        "mrr@5": rr / n,
        "crowded": crowded / n,
        "p50_ms": statistics.median(times),
        "queries": n,
    }


def write(out: Path, rows: list[dict]) -> None:
    """retrieval.json and retrieval.md (rewritten after every row, so a stopped run keeps its rows)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    lines = [
        "# Retrieval by configuration",
        "",
        "`benchmarks/bench_retrieval.py`: all-MiniLM-L6-v2 + FAISS (flat) + BM25, top 5. `sample`: the 48 "
        "answerable questions of `benchmarks/qa/sample_qa.jsonl` over the sample corpus. `held-out`: the 40 "
        "queries of `tests/data/docs/labelled-queries.json` over five FAQ categories plus the shipped test "
        "documents (never tuned on). crowded: share of top-5 lists with two chunks of one section. Latency: "
        "one query at a time on a shared 2-core CPU, embedding included.",
        "",
        "| chunk tokens | retriever | set | hit@1 | hit@5 | MRR@5 | crowded | p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['chunk_tokens']} | {r['retriever']} | {r['set']} | {r['hit@1']:.0%} | {r['hit@5']:.0%} | "
            f"{r['mrr@5']:.3f} | {r['crowded']:.0%} | {r['p50_ms']:.1f} |"
        )
    (out / "retrieval.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk-tokens", default="200,120")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    sets = questions()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk_tokens in (int(c) for c in args.chunk_tokens.split(",")):
            store = build(Path(tmp), chunk_tokens)
            try:
                for name, (mode, candidates, rrf_k, per_section, demote) in RETRIEVERS.items():
                    retriever = StoreRetriever(
                        store,
                        mode=mode,
                        candidates=candidates,
                        rrf_k=rrf_k,
                        per_section=per_section,
                        demote_navigation=demote,
                    )
                    for set_name, (namespace, items) in sets.items():
                        figures = measure(store, retriever, namespace, items)
                        rows.append({"chunk_tokens": chunk_tokens, "retriever": name, "set": set_name, **figures})
                        print(
                            f"{chunk_tokens:4} {name:34} {set_name:9} hit@5 {figures['hit@5']:.3f} "
                            f"MRR {figures['mrr@5']:.3f} crowded {figures['crowded']:.2f} "
                            f"p50 {figures['p50_ms']:.1f} ms",
                            flush=True,
                        )
                        write(args.out, rows)
            finally:
                store.close()


if __name__ == "__main__":
    main()
