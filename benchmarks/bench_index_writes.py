"""Writes never stall reads: rag-question latency through the gateway, idle and during a large upload.

A gateway with its own index (the sample-sized seed document) and a zero-latency stub engine
(``benchmarks/stub_engine.py``, so the latency measured is the gateway's retrieval path, which the
upload competes with) answers rag questions one after another: first idle, then while one
document of ``--paragraphs`` paragraphs of random words (4,000 → 2.3 MB, 8,000 chunks of 200
tokens) uploads through ``POST /v1/documents``. Goal: p50 during the upload ≤ 2× idle, and every question answered.
Writes benchmarks/results/index_writes.{json,md}.

    .venv/bin/python benchmarks/bench_index_writes.py [--paragraphs 4000] [--idle 30]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))
QUESTIONS = [
    "How deep is the borehole of a heat pump?",
    "What does a ground-source heat pump need?",
    "How long is the borehole?",
]


def big_document(paragraphs: int) -> bytes:
    """``paragraphs`` paragraphs of 60 distinct random words (two 200-token chunks each)."""
    rng = random.Random(3)
    vocabulary = [f"term{i}" for i in range(20000)]
    return "\n\n".join(" ".join(rng.choice(vocabulary) for _ in range(60)) for _ in range(paragraphs)).encode()


def ask(client: httpx.Client, question: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post("/v1/chat", json={"question": question, "mode": "rag", "max_tokens": 4})
    return time.perf_counter() - started, response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=4000, help="paragraphs of the uploaded document")
    parser.add_argument("--idle", type=int, default=30, help="questions asked idle")
    args = parser.parse_args()

    from benchmarks.bench_gateway_schema import start_stub
    from indexer import DocumentStore
    from ragtune import models as model_store
    from ragtune.settings import IndexSettings, Settings, get_settings
    from services.gateway.server import BackgroundGateway

    base = get_settings()
    engine_url = start_stub(model_store.resolve(base.models.generator, base.models_dir).name)
    document = big_document(args.paragraphs)
    with tempfile.TemporaryDirectory() as work:
        home = Path(work)
        (home / "models").symlink_to(base.models_dir, target_is_directory=True)
        embedder = model_store.resolve(base.models.embedder, base.models_dir)
        with DocumentStore.open(home / "index", embedder, IndexSettings()) as store:
            store.add_bytes(
                "heat-pumps.md", b"# Heat pumps\n\nA ground-source heat pump needs a borehole about 150 metres deep."
            )
        config = Settings(
            home=home,
            engine={"kind": "vllm", "url": engine_url},
            gateway={"max_body_bytes": 50_000_000, "rate_limit_per_minute": 10_000_000},
            index={"max_document_chunks": 100_000},
        )
        with BackgroundGateway(config) as gateway, httpx.Client(base_url=gateway.url, timeout=600) as client:
            for question in QUESTIONS:
                ask(client, question)  # warm-up
            idle = [ask(client, QUESTIONS[i % 3]) for i in range(args.idle)]
            upload: dict = {}

            def run_upload() -> None:
                started = time.perf_counter()
                response = httpx.post(
                    gateway.url + "/v1/documents", timeout=3600, files={"files": ("handbook.txt", document)}
                )
                upload.update(
                    status=response.status_code,
                    seconds=time.perf_counter() - started,
                    chunks=sum(
                        d.get("chunks", 0) for r in response.json().get("reports", []) for d in r.get("documents", [])
                    ),
                )

            thread = threading.Thread(target=run_upload)
            thread.start()
            during = []
            while thread.is_alive():
                result = ask(client, QUESTIONS[len(during) % 3])
                if thread.is_alive():
                    during.append(result)
            thread.join()
    idle_p50 = statistics.median(t for t, _ in idle)
    during_p50 = statistics.median(t for t, _ in during) if during else float("nan")
    summary = {
        "document_bytes": len(document),
        "chunks": upload.get("chunks"),
        "upload_status": upload.get("status"),
        "upload_s": round(upload.get("seconds", 0), 1),
        "idle_questions": len(idle),
        "questions_during_upload": len(during),
        "failed": sum(s != 200 for _, s in idle + during),
        "idle_p50_ms": round(idle_p50 * 1000, 1),
        "during_p50_ms": round(during_p50 * 1000, 1),
        "during_max_ms": round(max((t for t, _ in during), default=float("nan")) * 1000, 1),
        "ratio_p50": round(during_p50 / idle_p50, 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "index_writes.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "index_writes.md").write_text(
        "# Rag questions while a large document uploads\n\n"
        f"One {summary['document_bytes']:,}-byte text document ({summary['chunks']} chunks) uploaded through "
        f"`POST /v1/documents` in {summary['upload_s']} s while rag questions ran one after another "
        "(stub engine, so the time is the gateway's retrieval path).\n\n"
        "| | questions | p50 ms | max ms | failed |\n|---|---:|---:|---:|---:|\n"
        f"| idle | {summary['idle_questions']} | {summary['idle_p50_ms']} | | |\n"
        f"| during the upload | {summary['questions_during_upload']} | {summary['during_p50_ms']} "
        f"| {summary['during_max_ms']} | {summary['failed']} |\n\n"
        f"p50 during / idle: **{summary['ratio_p50']}×** (goal ≤ 2×). Before the writer thread, a rag "
        "question waited for the whole upload (95 s against 2 s idle at 4,000 chunks, issue 18).\n"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
