"""Retrieval hit@5 per question language on the sample corpus (English documents).

The same 16 questions in English, Italian and Swedish (benchmarks/qa/multilingual_qa.jsonl, the
translations of sample_qa items) against the demo corpus indexed with the default embedder; a hit
is the gold document among the top 5 chunks. BM25 runs twice: English-only tokenization (the old
behaviour, ``index.language=en``) and per-language stopwords and stemming (the default: each chunk's
language detected, the query tokenized in the index's languages and its own). Writes
benchmarks/results/multilingual.{json,md}.

    .venv/bin/python benchmarks/bench_multilingual.py
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QA = REPO / "benchmarks" / "qa" / "multilingual_qa.jsonl"
RESULTS = REPO / "benchmarks" / "results"
K = 5


def hit_rates(store, items: list[dict], mode: str) -> dict[str, float]:
    hits: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        found = store.search(item["question"], k=K, namespace="default", mode=mode)
        hits[item["language"]].append(any(Path(h.source).stem == item["gold_doc"] for h in found))
    return {language: sum(v) / len(v) for language, v in sorted(hits.items())}


def main() -> None:
    from indexer import DocumentStore
    from indexer.sample import build_sample_corpus
    from ragtune import models as model_store
    from ragtune.settings import IndexSettings, Settings

    settings = Settings()
    embedder = model_store.resolve(settings.models.embedder, settings.models_dir)
    items = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        corpus = build_sample_corpus(Path(work) / "corpus")
        for label, language in (("English-only BM25", "en"), ("per-language BM25", None)):
            config = IndexSettings(language=language)
            with DocumentStore.open(Path(work) / f"index-{language}", embedder, config) as store:
                store.add_paths(corpus, namespace="default")
                modes = ("bm25", "hybrid") if rows else ("dense", "bm25", "hybrid")
                for mode in modes:
                    rows.append(
                        {
                            "tokenization": label if mode != "dense" else "-",
                            "mode": mode,
                            "hit_at_5": hit_rates(store, items, mode),
                        }
                    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "multilingual.json").write_text(
        json.dumps(
            {"k": K, "questions_per_language": len(items) // 3, "embedder": settings.models.embedder, "rows": rows},
            indent=2,
        )
        + "\n"
    )
    languages = sorted(rows[0]["hit_at_5"])
    lines = [
        "# Retrieval hit@5 by question language (sample corpus, English documents)",
        "",
        f"{len(items) // 3} questions per language (the same questions translated; "
        f"benchmarks/qa/multilingual_qa.jsonl); embedder `{settings.models.embedder}`.",
        "",
        "| mode | BM25 tokenization | " + " | ".join(languages) + " |",
        "|---|---|" + "---:|" * len(languages),
    ]
    for row in rows:
        lines.append(
            f"| {row['mode']} | {row['tokenization']} | "
            + " | ".join(f"{row['hit_at_5'][lang]:.2f}" for lang in languages)
            + " |"
        )
    (RESULTS / "multilingual.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
