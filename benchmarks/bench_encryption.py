"""What encryption at rest costs: ingest, query, cold open and FAISS files, in clear vs encrypted.

The sample corpus (the Zaragoza FAQ, one Markdown document per category) is indexed into two fresh
stores side by side, one in clear and one under a key (SQLCipher catalog, AES-GCM FAISS files):
each file is added to one store then the other, each question asked of one then the other, the
order flipping every time, so load drift on a shared machine hits both alike. Per round: the
ingest time (``add_paths`` per file, summed), the p50 of ``search`` (hybrid, k=4) over the 48
sample questions asked ``--passes`` times after a warm-up, the p50 of ``search`` in ``bm25`` mode
(no embedder: the storage path weighs more), and a cold open (``open_store`` + first search:
catalog open, FAISS file read and decrypted, BM25 built).
Separately, one namespace's FAISS file of ``--vectors`` random 384-d vectors is saved and loaded
in clear and encrypted (AES-256-GCM throughput). Writes benchmarks/results/encryption.{json,md,png}.

    .venv/bin/python benchmarks/bench_encryption.py [--rounds 1] [--passes 2] [--vectors 100000]
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))
KEY = "benchmark-key-of-at-least-thirty-two-characters"


def p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _settings(home: Path, encrypted: bool):
    from pydantic import SecretStr

    from ragtune.settings import Settings, get_settings

    base = get_settings()
    if not (home / "models").exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / "models").symlink_to(base.models_dir, target_is_directory=True)
    return Settings(
        home=home, models=base.models, index=base.index, encryption_key=SecretStr(KEY) if encrypted else None
    )


def one_round(work: Path, corpus: Path, questions: list[str], passes: int, number: int) -> list[dict]:
    """Both stores side by side: each file is added to one then the other, each question asked of
    one then the other (the order flips every time), so load drift hits both alike."""
    from ragtune.index import open_store

    modes = (False, True)
    settings = {m: _settings(work / f"home-{number}-{int(m)}", m) for m in modes}
    ingest = dict.fromkeys(modes, 0.0)
    files = sorted(corpus.rglob("*.md"))
    stores = {m: open_store(settings[m]) for m in modes}
    try:
        for store in stores.values():
            store.warm_up()
        for i, path in enumerate(files):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                started = time.perf_counter()
                stores[mode].add_paths([path])
                ingest[mode] += time.perf_counter() - started
        chunks = {m: stores[m].stats().chunks for m in modes}
    finally:
        for store in stores.values():
            store.close()
    cold = dict.fromkeys(modes, 0.0)
    readers = {}
    for mode in modes if number % 2 == 0 else modes[::-1]:
        started = time.perf_counter()
        readers[mode] = open_store(settings[mode], read_only=True)
        readers[mode].search(questions[0], k=4)
        cold[mode] = time.perf_counter() - started
    hybrid: dict[bool, list[float]] = {m: [] for m in modes}
    bm25: dict[bool, list[float]] = {m: [] for m in modes}
    try:
        for question in questions[:5]:  # warm-up
            for mode in modes:
                readers[mode].search(question, k=4)
        for i, question in enumerate(questions * passes):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                started = time.perf_counter()
                readers[mode].search(question, k=4)
                hybrid[mode].append(time.perf_counter() - started)
                started = time.perf_counter()
                readers[mode].search(question, k=4, mode="bm25")
                bm25[mode].append(time.perf_counter() - started)
    finally:
        for reader in readers.values():
            reader.close()
    rows = []
    for mode in modes:
        index_dir = settings[mode].index_dir
        rows.append(
            {
                "round": number,
                "encrypted": mode,
                "documents": len(files),
                "chunks": chunks[mode],
                "ingest_s": round(ingest[mode], 3),
                "query_hybrid_p50_ms": p50_ms(hybrid[mode]),
                "query_bm25_p50_ms": p50_ms(bm25[mode]),
                "cold_open_ms": round(cold[mode] * 1000, 1),
                "index_bytes": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()),
            }
        )
    return rows


def faiss_files(vectors: int, repeats: int = 5) -> dict:
    from indexer.vector_index import VectorIndex
    from ragtune.crypto import DataKey
    from ragtune.settings import IndexSettings

    rng = np.random.default_rng(0)
    data = rng.standard_normal((vectors, 384), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = VectorIndex(384, IndexSettings())
    index.add(np.arange(vectors, dtype=np.int64), data)
    out: dict = {"vectors": vectors}
    with tempfile.TemporaryDirectory() as work:
        for label, key in (("clear", None), ("encrypted", DataKey(KEY))):
            path = Path(work) / label / "default.faiss"
            saves, loads = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                index.save(path, 1, "digest", key=key)
                saves.append(time.perf_counter() - started)
                started = time.perf_counter()
                loaded = VectorIndex.load(path, 384, IndexSettings(), key=key)
                loads.append(time.perf_counter() - started)
                assert loaded is not None and loaded.size == vectors
            out[label] = {"save_p50_ms": p50_ms(saves), "load_p50_ms": p50_ms(loads), "bytes": path.stat().st_size}
    return out


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["ingest (s)", "query hybrid p50 (ms)", "query bm25 p50 (ms)", "cold open (ms)"]
    keys = ["ingest_s", "query_hybrid_p50_ms", "query_bm25_p50_ms", "cold_open_ms"]
    clear = [summary["clear"][k] for k in keys]
    encrypted = [summary["encrypted"][k] for k in keys]
    fig, axes = plt.subplots(1, len(keys), figsize=(12, 3.2))
    for axis, label, c, e in zip(axes, labels, clear, encrypted, strict=True):
        axis.bar(["clear", "encrypted"], [c, e], color=["#8da0cb", "#fc8d62"])
        axis.set_title(label, fontsize=9)
        axis.set_ylim(0, max(c, e) * 1.25)
        axis.text(1, e, f"{e / c:.2f}×", ha="center", va="bottom", fontsize=9)
    fig.suptitle("Encryption at rest (SQLCipher + AES-GCM): sample corpus, medians of rounds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each indexing in clear and encrypted")
    parser.add_argument("--passes", type=int, default=2, help="passes over the 48 questions per round")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors in the FAISS file measure")
    args = parser.parse_args()

    from indexer.sample import build_sample_corpus

    questions = [q for q in (REPO / "benchmarks" / "qa" / "sample_questions.txt").read_text().splitlines() if q]
    rounds = []
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"
        build_sample_corpus(corpus)
        for number in range(args.rounds):
            for row in one_round(Path(work), corpus, questions, args.passes, number):
                rounds.append(row)
                print(json.dumps(row), flush=True)
    summary: dict = {}
    for label, encrypted in (("clear", False), ("encrypted", True)):
        rows = [r for r in rounds if r["encrypted"] is encrypted]
        summary[label] = {
            key: round(statistics.median(r[key] for r in rows), 3)
            for key in ("ingest_s", "query_hybrid_p50_ms", "query_bm25_p50_ms", "cold_open_ms", "index_bytes")
        }
    files = faiss_files(args.vectors)
    load = os.getloadavg()
    result = {
        "rounds": rounds,
        "summary": summary,
        "faiss_file": files,
        "questions": len(questions),
        "passes": args.passes,
        "load_average": [round(x, 1) for x in load],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encryption.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(summary, RESULTS / "encryption.png")
    c, e = summary["clear"], summary["encrypted"]

    def row(label: str, key: str, unit: str) -> str:
        return f"| {label} | {c[key]:,} {unit} | {e[key]:,} {unit} | {e[key] / c[key]:.2f}× |"

    lines = [
        "# Encryption at rest: what it costs",
        "",
        f"`benchmarks/bench_encryption.py --rounds {args.rounds} --passes {args.passes} --vectors {args.vectors}`:"
        f" the sample corpus ({rounds[0]['documents']} documents, {rounds[0]['chunks']} chunks)"
        " indexed into two stores side by side, in clear and under a key (SQLCipher 4 catalog, AES-256-GCM"
        " FAISS files), files and questions alternating between them; medians over rounds;"
        f" queries: {len(questions)} sample questions × {args.passes} passes after a warm-up.",
        "",
        "| | clear | encrypted | encrypted / clear |",
        "|---|---:|---:|---:|",
        row("ingest (`add_paths`, embedding included)", "ingest_s", "s"),
        row("query p50, hybrid (query embedding included)", "query_hybrid_p50_ms", "ms"),
        row("query p50, bm25 (no embedder)", "query_bm25_p50_ms", "ms"),
        row("cold open + first search", "cold_open_ms", "ms"),
        row("index on disk", "index_bytes", "bytes"),
        "",
        f"One FAISS file of {files['vectors']:,} vectors (384-d, flat; {files['clear']['bytes'] / 1e6:.1f} MB):",
        "",
        "| | clear | encrypted | encrypted / clear |",
        "|---|---:|---:|---:|",
        f"| save p50 | {files['clear']['save_p50_ms']} ms | {files['encrypted']['save_p50_ms']} ms | "
        f"{files['encrypted']['save_p50_ms'] / files['clear']['save_p50_ms']:.2f}× |",
        f"| load p50 | {files['clear']['load_p50_ms']} ms | {files['encrypted']['load_p50_ms']} ms | "
        f"{files['encrypted']['load_p50_ms'] / files['clear']['load_p50_ms']:.2f}× |",
        "",
        "The cold open is one measure per store per round, and the store opened first (clear in even rounds)"
        " also pays the one-time loads of the process (the language identifier and stemmers BM25 builds with),"
        " so its ratio says little; the FAISS rows show the decryption cost of a large file instead.",
        "",
        f"Load average during the run: {', '.join(str(x) for x in result['load_average'])} (2 cores shared "
        "with other jobs): read the ratios, not the absolute times.",
        "",
        "![clear vs encrypted](encryption.png)",
        "",
    ]
    (RESULTS / "encryption.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
