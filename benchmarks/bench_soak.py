"""Soak: the gateway under steady mixed load for a long time, with feedback posted on the answers.

``--concurrency`` clients (default 16) loop for ``--duration`` seconds (default 600) over a mix of
base and rag questions (plain and streamed), compares of base and rag, and a feedback post for
every plain answer, against a gateway process (``ragtune serve``) on its own index and a
zero-latency stub engine (``benchmarks/stub_engine.py``; ``--engine-url`` for a real vLLM). Goals:
0 responses with a 5xx status, 0 lost feedback rows (every accepted post is in the feedback
database afterwards) and gateway RSS growth below 10 % (from the first sample after the warm-up
minute to the end). Writes benchmarks/results/soak.{json,md}.

    .venv/bin/python benchmarks/bench_soak.py                      # 10 minutes at concurrency 16
    .venv/bin/python benchmarks/bench_soak.py --duration 60        # a short profile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))
QUESTIONS = [
    "How deep is the borehole of a heat pump?",
    "What keeps a house warm in winter?",
    "How long do clay roof tiles last?",
    "Who won the football world cup in 1934?",
]
DOCS = {
    "heat-pumps.md": b"# Heat pumps\n\nA ground-source heat pump needs a borehole about 150 metres deep.",
    "windows.md": b"# Windows\n\nTriple-glazed windows keep a house warm in winter and quiet all year.",
    "roofs.md": b"# Roofs\n\nClay roof tiles last about sixty years when the battens stay dry.",
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_gateway(home: Path, engine_url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
        "RAGTUNE_GATEWAY__RATE_LIMIT_PER_MINUTE": "100000000",
    }
    log = (home / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ragtune.cli", "serve", "--engine-url", engine_url, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited ({process.returncode}); see {home / 'gateway.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the gateway did not become ready")


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.latency: dict[str, list[float]] = {}
        self.feedback_accepted = 0
        self.errors: list[str] = []

    def record(self, kind: str, status: int, seconds: float, body: str = "") -> None:
        self.statuses[f"{kind} {status}"] += 1
        self.latency.setdefault(kind, []).append(seconds)
        if status >= 500 and len(self.errors) < 10:
            self.errors.append(f"{kind} {status}: {body[:300]}")


async def client_loop(client: httpx.AsyncClient, worker: int, until: float, tally: Tally) -> None:
    step = worker
    while time.monotonic() < until:
        question = QUESTIONS[step % len(QUESTIONS)]
        kind = ("base", "rag", "rag-stream", "compare")[step % 4]
        step += 1
        started = time.perf_counter()
        try:
            if kind == "compare":
                response = await client.post(
                    "/v1/compare", json={"question": question, "modes": ["base", "rag"], "max_tokens": 8}
                )
            elif kind == "rag-stream":
                async with client.stream(
                    "POST", "/v1/chat", json={"question": question, "mode": "rag", "max_tokens": 8, "stream": True}
                ) as response:
                    body = (await response.aread()).decode()
                    if '"error"' in body and response.status_code == 200:
                        tally.record(kind, 599, time.perf_counter() - started, body)  # an in-band failure
                        continue
            else:
                response = await client.post("/v1/chat", json={"question": question, "mode": kind, "max_tokens": 8})
        except httpx.HTTPError as exc:
            tally.record(kind, 598, time.perf_counter() - started, repr(exc))  # transport failure
            continue
        tally.record(
            kind, response.status_code, time.perf_counter() - started, response.text if kind != "rag-stream" else ""
        )
        if kind in ("base", "rag") and response.status_code == 200:
            started = time.perf_counter()
            feedback = await client.post(
                "/v1/feedback",
                json={"request_id": response.json()["id"], "rating": 1 if step % 2 else -1, "resolved": step % 3 == 0},
            )
            tally.record("feedback", feedback.status_code, time.perf_counter() - started, feedback.text)
            if feedback.status_code < 300:
                tally.feedback_accepted += 1


async def run_load(url: str, concurrency: int, duration: float, pid: int) -> tuple[Tally, list[tuple[float, float]]]:
    tally = Tally()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    until = started + duration

    async def sample() -> None:
        while time.monotonic() < until:
            samples.append((round(time.monotonic() - started, 1), rss_mib(pid)))
            await asyncio.sleep(min(10.0, duration / 20))

    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(sample(), *(client_loop(client, w, until, tally) for w in range(concurrency)))
    samples.append((round(time.monotonic() - started, 1), rss_mib(pid)))
    return tally, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--engine-url", help="a running vLLM (default: the in-process stub engine)")
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()

    from benchmarks.bench_gateway_schema import start_stub
    from indexer import DocumentStore
    from ragtune import models as model_store
    from ragtune.settings import IndexSettings, get_settings

    base = get_settings()
    engine_url = args.engine_url or start_stub(model_store.resolve(base.models.generator, base.models_dir).name)
    with tempfile.TemporaryDirectory() as work:
        home = Path(work)
        (home / "models").symlink_to(base.models_dir, target_is_directory=True)
        embedder = model_store.resolve(base.models.embedder, base.models_dir)
        with DocumentStore.open(home / "index", embedder, IndexSettings()) as store:
            for name, data in DOCS.items():
                store.add_bytes(name, data)
        gateway = start_gateway(home, engine_url, args.port)
        try:
            tally, samples = asyncio.run(
                run_load(f"http://127.0.0.1:{args.port}", args.concurrency, args.duration, gateway.pid)
            )
        finally:
            gateway.terminate()
            gateway.wait(timeout=60)
        db = sqlite3.connect(home / "feedback.sqlite")
        stored = db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
        db.close()
    warm = [rss for t, rss in samples if t >= min(60.0, args.duration / 4)] or [s[1] for s in samples]
    answered = sum(n for key, n in tally.statuses.items() if key.split()[0] != "feedback")
    summary = {
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "engine": "stub" if not args.engine_url else args.engine_url,
        "requests": answered,
        "feedback_posts": sum(len(v) for k, v in tally.latency.items() if k == "feedback"),
        "server_errors": sum(n for key, n in tally.statuses.items() if int(key.split()[1]) >= 500),
        "feedback_accepted": tally.feedback_accepted,
        "feedback_stored": stored,
        "feedback_lost": tally.feedback_accepted - stored,
        "rss_start_mib": round(warm[0], 1),
        "rss_end_mib": round(warm[-1], 1),
        "rss_growth_pct": round(100 * (warm[-1] - warm[0]) / warm[0], 1),
        "p50_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in sorted(tally.latency.items())},
        "statuses": dict(sorted(tally.statuses.items())),
        "errors": tally.errors,
        "rss_samples": samples,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "soak.md").write_text(
        "# Soak: mixed load and feedback through the gateway\n\n"
        f"{summary['duration_s']:.0f} s at concurrency {summary['concurrency']} (engine: {summary['engine']}): "
        f"{summary['requests']} requests (base, rag, rag streamed, compare) and {summary['feedback_posts']} "
        "feedback posts.\n\n"
        "| | result | goal |\n|---|---:|---:|\n"
        f"| 5xx responses | {summary['server_errors']} | 0 |\n"
        f"| feedback lost (accepted {summary['feedback_accepted']}, stored {summary['feedback_stored']}) "
        f"| {summary['feedback_lost']} | 0 |\n"
        f"| gateway RSS after warm-up → end (MiB) | {summary['rss_start_mib']} → {summary['rss_end_mib']} "
        f"({summary['rss_growth_pct']:+} %) | < 10 % |\n\n"
        "p50 latency (ms): " + ", ".join(f"{k} {v}" for k, v in summary["p50_ms"].items()) + "\n"
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "rss_samples"}))


if __name__ == "__main__":
    main()
