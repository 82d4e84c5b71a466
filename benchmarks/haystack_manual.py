"""Baseline: Haystack's standard hybrid retrieval over a long PDF manual (hit@5 on gold pages, latency).

Runs the hybrid pipeline of Haystack's tutorials (BM25 + embedding retrieval joined by reciprocal rank
fusion) over one PDF and reports, per question, whether a gold page is among the top 5 results, plus
indexing time and query latency, so ragtune's retrieval can be compared with it on the same manual and
questions. Not part of the test suite; it needs its own virtual environment, because Haystack is no
dependency of ragtune.

Setup (Python 3.11, the version of the project's ``.venv``; the Haystack venv reuses that venv's
torch, sentence-transformers, numpy and pypdf through a ``.pth`` file instead of a second torch)::

    python3.11 -m venv ../hs-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > ../hs-venv/lib/python3.11/site-packages/zz_ragtune.pth
    ../hs-venv/bin/pip install --dry-run haystack-ai   # check: no torch / numpy in "Would install"
    ../hs-venv/bin/pip install haystack-ai             # 3.4.1 at the time of writing
    # Haystack 3.x moved the Sentence Transformers embedders into an integration package; all its
    # requirements are already in .venv (--no-deps keeps pip from upgrading setuptools for torch):
    ../hs-venv/bin/pip install --no-deps sentence-transformers-haystack   # 2.0.0
    ../hs-venv/bin/python -c "from haystack import Pipeline"

The manual used for the figures in ``benchmarks/results/manual_haystack.json``: the GNU Octave 7.3
manual (``octave.pdf``, 1,158 pages) of Debian's ``octave-doc`` package
(``apt-get download octave-doc && dpkg-deb -x octave-doc_*.deb octdoc``, then
``octdoc/usr/share/doc/octave/octave.pdf``). The embedder: a local sentence-transformers folder of
all-MiniLM-L6-v2 (the one ragtune uses). Everything runs offline::

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HAYSTACK_TELEMETRY_ENABLED=False nice -n 5 \
        ../hs-venv/bin/python benchmarks/haystack_manual.py --pdf octave.pdf \
        --embedder PATH/TO/all-minilm-l6-v2 --questions benchmarks/qa/manual_qa.jsonl

Pipelines (as in Haystack's hybrid-retrieval tutorial, with the tutorial's cross-encoder ranker left
out and ``reciprocal_rank_fusion`` as the join mode):

* indexing: PyPDFToDocument -> DocumentCleaner (defaults) -> DocumentSplitter(split_by="word",
  split_length=150, split_overlap=0, DocumentSplitter's own default overlap; the tutorial's 512 words
  would be cut at MiniLM's 256-token limit) -> SentenceTransformersDocumentEmbedder -> DocumentWriter
  into an InMemoryDocumentStore;
* querying: SentenceTransformersTextEmbedder -> InMemoryEmbeddingRetriever(top_k=10), and
  InMemoryBM25Retriever(top_k=10) -> DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=5).

A question is a JSONL line ``{"id", "question", "question_it"?, "pages": [...]}`` with 1-based physical
PDF pages; a hit is any of the top 5 results whose ``page_number`` (the page its split starts on, which
DocumentSplitter counts from the form feeds PyPDFToDocument puts between pages) is a gold page. The
embedded document store is cached (``--cache``, JSON) and reused unless ``--rebuild``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import haystack  # noqa: E402
from haystack import Document, Pipeline  # noqa: E402
from haystack.components.converters import PyPDFToDocument  # noqa: E402
from haystack.components.joiners import DocumentJoiner  # noqa: E402
from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter  # noqa: E402
from haystack.components.retrievers.in_memory import (  # noqa: E402
    InMemoryBM25Retriever,
    InMemoryEmbeddingRetriever,
)
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402

try:  # Haystack 3.x: the sentence-transformers-haystack integration package
    from haystack_integrations.components.embedders.sentence_transformers import (  # noqa: E402
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )
except ImportError:  # Haystack 2.x: part of haystack-ai
    from haystack.components.embedders import (  # noqa: E402
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )

REPO = Path(__file__).resolve().parent.parent
TOP_K_RETRIEVERS = 10
TOP_K = 5


def _pages(spec: str) -> range:
    first, _, last = spec.partition("-")
    return range(int(first), int(last or first) + 1)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def build_index(args: argparse.Namespace) -> tuple[InMemoryDocumentStore, dict[str, Any], list[Document]]:
    """Runs the indexing pipeline into a fresh store; returns it, the timings, and the cleaned
    (unsplit) documents for the page-number check."""
    store = InMemoryDocumentStore()
    pipe = Pipeline()
    pipe.add_component("converter", PyPDFToDocument())
    pipe.add_component("cleaner", DocumentCleaner())
    pipe.add_component(
        "splitter",
        DocumentSplitter(split_by="word", split_length=args.split_length, split_overlap=args.split_overlap),
    )
    pipe.add_component(
        "embedder",
        SentenceTransformersDocumentEmbedder(
            model=str(args.embedder), local_files_only=True, batch_size=32, progress_bar=False
        ),
    )
    pipe.add_component("writer", DocumentWriter(document_store=store))
    pipe.connect("converter", "cleaner")
    pipe.connect("cleaner", "splitter")
    pipe.connect("splitter", "embedder")
    pipe.connect("embedder", "writer")
    started, cpu_started = time.perf_counter(), time.process_time()
    out = pipe.run({"converter": {"sources": [str(args.pdf)]}}, include_outputs_from={"cleaner"})
    seconds = time.perf_counter() - started
    timing = {
        "index_seconds": round(seconds, 1),
        "index_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "torch_threads": _torch_threads(),
        "documents_written": out["writer"]["documents_written"],
    }
    return store, timing, out["cleaner"]["documents"]


def check_page_numbers(
    pdf: Path, cleaned: list[Document], splits: list[Document], samples: int, seed: int = 0
) -> dict[str, Any]:
    """Checks ``page_number`` of some splits against the PDF: the cleaned text must have one form-feed
    separated page per physical page, and each sampled split's words must be on its page as another
    extractor (pypdfium2) reads it, better there than on the neighbouring pages."""
    import pypdfium2

    pdfdoc = pypdfium2.PdfDocument(str(pdf))
    n_pages = len(pdfdoc)
    words = re.compile(r"[A-Za-z]{4,}")

    def page_words(page: int) -> set[str]:
        if not 1 <= page <= n_pages:
            return set()
        return set(words.findall(pdfdoc[page - 1].get_textpage().get_text_range()))

    rng = random.Random(seed)
    checked = []
    for doc in rng.sample(splits, min(samples, len(splits))):
        page = doc.meta["page_number"]
        first_page_text = (doc.content or "").split("\f")[0]
        split_words = words.findall(first_page_text)[:40]
        overlap = {
            p: sum(w in page_words(p) for w in split_words) / max(len(split_words), 1)
            for p in (page - 1, page, page + 1)
        }
        checked.append(
            {
                "page_number": page,
                "start": " ".join((doc.content or "").split()[:8]),
                "words_on_page": round(overlap[page], 2),
                "words_on_page_before": round(overlap[page - 1], 2),
                "words_on_page_after": round(overlap[page + 1], 2),
                "ok": overlap[page] >= 0.8 and overlap[page] >= max(overlap[page - 1], overlap[page + 1]),
            }
        )
    pdfdoc.close()
    cleaned_pages = sum((d.content or "").count("\f") + 1 for d in cleaned)
    return {
        "pdf_pages": n_pages,
        "cleaned_text_pages": cleaned_pages,
        "max_split_page_number": max(d.meta["page_number"] for d in splits),
        "sampled_splits": checked,
        "all_ok": cleaned_pages == n_pages and all(c["ok"] for c in checked),
    }


def query_pipeline(store: InMemoryDocumentStore, embedder: Path) -> Pipeline:
    pipe = Pipeline()
    pipe.add_component(
        "text_embedder",
        SentenceTransformersTextEmbedder(model=str(embedder), local_files_only=True, progress_bar=False),
    )
    pipe.add_component("embedding_retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=TOP_K_RETRIEVERS))
    pipe.add_component("bm25_retriever", InMemoryBM25Retriever(document_store=store, top_k=TOP_K_RETRIEVERS))
    pipe.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_K))
    pipe.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    pipe.connect("embedding_retriever", "joiner")
    pipe.connect("bm25_retriever", "joiner")
    return pipe


def run_query(pipe: Pipeline, text: str) -> tuple[list[Document], float]:
    started = time.perf_counter()
    out = pipe.run({"text_embedder": {"text": text}, "bm25_retriever": {"query": text}})
    return out["joiner"]["documents"][:TOP_K], (time.perf_counter() - started) * 1000


def _spanned(doc: Document) -> range:
    """Physical pages a split covers: from its page_number over the form feeds in its text."""
    first = doc.meta["page_number"]
    return range(first, first + (doc.content or "").count("\f") + 1)


def component_latency(pipe: Pipeline, texts: list[str]) -> dict[str, float]:
    """p50 per query of the query embedder alone and of the BM25 retriever alone (run outside the pipeline)."""
    embedder = pipe.get_component("text_embedder")
    bm25 = pipe.get_component("bm25_retriever")
    dense = pipe.get_component("embedding_retriever")
    times: dict[str, list[float]] = {"text_embedder": [], "embedding_retriever": [], "bm25_retriever": []}
    for text in texts:
        started = time.perf_counter()
        embedding = embedder.run(text=text)["embedding"]
        times["text_embedder"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        dense.run(query_embedding=embedding)
        times["embedding_retriever"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        bm25.run(query=text)
        times["bm25_retriever"].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values), 1) for name, values in times.items()}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=Path("octave.pdf"), help="the PDF manual (default ./octave.pdf)")
    parser.add_argument("--embedder", type=Path, required=True, help="local sentence-transformers model folder")
    parser.add_argument("--questions", type=Path, default=REPO / "benchmarks/qa/manual_qa.jsonl")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/manual_haystack.json")
    parser.add_argument(
        "--cache", type=Path, default=None, help="embedded store (JSON); default <tmp>/haystack_<pdf stem>_store.json"
    )
    parser.add_argument("--rebuild", action="store_true", help="re-index even when --cache exists")
    parser.add_argument("--split-length", type=int, default=150)
    parser.add_argument("--split-overlap", type=int, default=0)
    parser.add_argument("--toc-pages", default="3-16", help="table of contents pages (Octave 7.3 manual: 3-16)")
    parser.add_argument(
        "--index-pages", default="1129-1158", help="concept/function/operator index pages (Octave 7.3: 1129-1158)"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's, one per core)"
    )
    parser.add_argument("--check-splits", type=int, default=12, help="splits whose page_number is checked")
    args = parser.parse_args()
    if not args.pdf.is_file():
        parser.error(f"no PDF at {args.pdf}")
    if not (args.embedder / "modules.json").is_file():
        parser.error(f"{args.embedder} is no sentence-transformers folder (no modules.json)")
    import tempfile

    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    cache = args.cache or Path(tempfile.gettempdir()) / f"haystack_{args.pdf.stem}_store.json"
    meta_path = cache.with_suffix(".meta.json")
    load_start = os.getloadavg()

    settings = {"split_by": "word", "split_length": args.split_length, "split_overlap": args.split_overlap}
    cached = (
        not args.rebuild and cache.is_file() and meta_path.is_file() and _load(meta_path).get("settings") == settings
    )
    if cached:
        started = time.perf_counter()
        store = InMemoryDocumentStore.load_from_disk(str(cache))
        index_meta = _load(meta_path)
        index_meta["loaded_from_cache_seconds"] = round(time.perf_counter() - started, 1)
        print(f"loaded {store.count_documents()} splits from {cache}", file=sys.stderr)
    else:
        print(f"indexing {args.pdf} (split_length={args.split_length}) ...", file=sys.stderr)
        store, timing, cleaned = build_index(args)
        splits = store.filter_documents()
        index_meta = {
            "settings": settings,
            **timing,
            "load_avg_during_index_end": [round(x, 2) for x in os.getloadavg()],
            "page_check": check_page_numbers(args.pdf, cleaned, splits, args.check_splits),
        }
        store.save_to_disk(str(cache))
        meta_path.write_text(json.dumps(index_meta, indent=2), encoding="utf-8")
        index_meta["loaded_from_cache_seconds"] = None
        print(f"indexed {len(splits)} splits in {timing['index_seconds']} s", file=sys.stderr)
    n_splits = store.count_documents()

    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    toc, index_pages = _pages(args.toc_pages), _pages(args.index_pages)
    pipe = query_pipeline(store, args.embedder)
    for text in ("How do I plot a sine wave?", "warm-up query about sparse matrices"):  # warm-up
        run_query(pipe, text)

    per_question: list[dict[str, Any]] = []
    latencies: dict[str, list[float]] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    for q in questions:
        row: dict[str, Any] = {"id": q["id"], "gold_pages": q["pages"]}
        for lang, key in (("en", "question"), ("it", "question_it")):
            if not q.get(key):
                continue
            docs, ms = run_query(pipe, q[key])
            pages = [d.meta.get("page_number") for d in docs]
            latencies.setdefault(lang, []).append(ms)
            row[lang] = {
                "hit": any(p in q["pages"] for p in pages),
                "rank": next((i + 1 for i, p in enumerate(pages) if p in q["pages"]), None),
                "top5_pages": pages,
                # secondary: a split that starts on the page before a gold page and runs onto it
                "hit_spanned": any(set(q["pages"]) & set(_spanned(d)) for d in docs),
                "toc_results": sum(p in toc for p in pages),
                "index_results": sum(p in index_pages for p in pages),
                "latency_ms": round(ms, 1),
            }
        per_question.append(row)

    query_cpu_over_wall = (time.process_time() - cpu_started) / (time.perf_counter() - started)
    all_ms = [ms for values in latencies.values() for ms in values]
    components = component_latency(
        pipe, [q[key] for q in questions for key in ("question", "question_it") if q.get(key)]
    )
    summary: dict[str, Any] = {}
    for lang, values in latencies.items():
        rows = [r[lang] for r in per_question if lang in r]
        summary[lang] = {
            "questions": len(rows),
            "hit_at_5": sum(r["hit"] for r in rows),
            "hit_at_5_spanned_pages": sum(r["hit_spanned"] for r in rows),
            "mrr_at_5": round(sum(1 / r["rank"] for r in rows if r["rank"]) / len(rows), 3),
            "toc_results": sum(r["toc_results"] for r in rows),
            "index_results": sum(r["index_results"] for r in rows),
            "questions_with_toc_or_index_result": sum(bool(r["toc_results"] or r["index_results"]) for r in rows),
            "latency_p50_ms": round(statistics.median(values), 1),
            "latency_p95_ms": round(_pct(values, 0.95), 1),
        }
    result = {
        "system": "haystack hybrid (BM25 + embedding, reciprocal rank fusion)",
        "haystack_version": haystack.__version__,
        "sentence_transformers_haystack_version": _version("sentence-transformers-haystack"),
        "sentence_transformers_version": _version("sentence-transformers"),
        "torch_version": _version("torch"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "pdf": args.pdf.name,
        "embedder": args.embedder.name,
        "questions_file": args.questions.name,
        "questions_sha256": hashlib.sha256(args.questions.read_bytes()).hexdigest(),
        "pipeline": {
            "indexing": [
                "PyPDFToDocument()",
                "DocumentCleaner()",
                f"DocumentSplitter(split_by='word', split_length={args.split_length}, "
                f"split_overlap={args.split_overlap})",
                "SentenceTransformersDocumentEmbedder(batch_size=32)",
                "DocumentWriter(InMemoryDocumentStore())",
            ],
            "query": [
                "SentenceTransformersTextEmbedder",
                f"InMemoryEmbeddingRetriever(top_k={TOP_K_RETRIEVERS})",
                f"InMemoryBM25Retriever(top_k={TOP_K_RETRIEVERS})",
                f"DocumentJoiner(join_mode='reciprocal_rank_fusion', top_k={TOP_K})",
            ],
            "hit": "any top-5 split's page_number (page the split starts on) in gold pages",
        },
        "toc_pages": args.toc_pages,
        "index_pages": args.index_pages,
        "splits": n_splits,
        "index": index_meta,
        "warmup_queries": 2,
        "latency_all_p50_ms": round(statistics.median(all_ms), 1),
        "latency_all_p95_ms": round(_pct(all_ms, 0.95), 1),
        "component_latency_p50_ms": components,
        "query_loop_cpu_over_wall": round(query_cpu_over_wall, 2),
        "torch_threads": _torch_threads(),
        "latency_note": (
            "whole query pipeline per question (query embedding, both retrievers, RRF join), one at a time; "
            "query_loop_cpu_over_wall well under 1 means the process waited for the CPU (a loaded machine)"
        ),
        "summary": summary,
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "per_question": per_question,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    idx = index_meta
    print(f"Haystack {haystack.__version__} hybrid RRF over {args.pdf.name}: {n_splits} splits", end="")
    print(f", indexed in {idx.get('index_seconds')} s" + (" (cached)" if cached else ""))
    print(
        f"{'lang':4} {'n':>3} {'hit@5':>7} {'span':>7} {'MRR@5':>6} {'toc':>4} {'index':>5} {'p50 ms':>7} {'p95 ms':>7}"
    )
    for lang, s in summary.items():
        n = s["questions"]
        print(
            f"{lang:4} {n:>3} {s['hit_at_5']:>3}/{n:<3} {s['hit_at_5_spanned_pages']:>3}/{n:<3} {s['mrr_at_5']:>6.3f} "
            f"{s['toc_results']:>4} {s['index_results']:>5} {s['latency_p50_ms']:>7.1f} {s['latency_p95_ms']:>7.1f}"
        )
    print(
        f"all  p50 {result['latency_all_p50_ms']} ms, p95 {result['latency_all_p95_ms']} ms; p50 per component: ",
        end="",
    )
    print(", ".join(f"{name} {ms} ms" for name, ms in components.items()))
    print(f"toc = results on pages {args.toc_pages}, index = on {args.index_pages}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
