"""Gateway overhead: the same chat requests sent straight to vLLM and through the ragtune gateway.

Both paths answer identical base-mode requests (same messages, greedy, same max_tokens; the direct
requests stream with usage exactly as the gateway's vLLM engine does), so the
engine does the same work and the difference is what the gateway adds (HTTP hop, validation,
token accounting, metrics, request log); no retrieval is involved. Runs at concurrency 1 and 8,
alternating direct and gateway runs, and writes benchmarks/results/gateway.{json,md,png}.

    .venv/bin/python benchmarks/bench_gateway.py                  # starts its own vLLM (≈ 1-2 min)
    .venv/bin/python benchmarks/bench_gateway.py --engine-url http://127.0.0.1:8001 --requests 32

    .venv/bin/python benchmarks/bench_gateway.py --pin     # vLLM on one core, gateway + client on the other
    .venv/bin/python benchmarks/bench_gateway.py --stub    # a zero-latency stub engine: the gateway's own cost
    .venv/bin/python benchmarks/bench_gateway.py --stub --stub-ttft-ms 20 --stub-itl-ms 10   # paced like a GPU

Goals: gateway throughput ≥ 0.95× direct; added p50 latency ≤ 3 ms. "added p50" is the median over
rounds of (target p50 − direct p50 in the same round); throughput is the best round of each target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
QUESTIONS = [
    "How long does an energy declaration remain valid?",
    "What is an FTX unit?",
    "How often should the ventilation filter be changed?",
    "What is shoreline protection?",
    "Can I produce the energy declaration myself?",
    "What does a ventilation installation cost?",
    "What is the energy class?",
    "Is a building permit needed for a small shed?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def read_stream(response: aiohttp.ClientResponse) -> dict:
    """Read an OpenAI SSE stream to its end; returns its last chunk that carries usage."""
    last: dict = {}
    async for line in response.content:
        if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                last = chunk
    return last


async def run_load(url: str, path: str, bodies: list[dict], concurrency: int, headers: dict) -> dict:
    """Send ``bodies`` with at most ``concurrency`` in flight; latency and throughput figures.

    The load client is aiohttp (as vLLM's own serving benchmark): httpx's connection pool costs this
    2-core machine ≈ 1.5 ms per request at concurrency 8, which would be charged to the server.
    """
    latencies: list[float] = []
    completion_tokens = 0
    overheads: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout, headers=headers) as client:

        async def one(body: dict) -> None:
            nonlocal completion_tokens
            async with semaphore:
                start = time.perf_counter()
                async with client.post(path, json=body) as response:
                    response.raise_for_status()
                    data = await read_stream(response) if body.get("stream") else await response.json()
                latencies.append((time.perf_counter() - start) * 1000)
            completion_tokens += data["usage"]["completion_tokens"]
            ragtune = data.get("ragtune") or (data if "latency_ms" in data else None)
            if ragtune:
                t = ragtune["latency_ms"]
                overheads.append(t["total"] - t["ttft"] - t["generation"])

        await one(bodies[0])  # warm the connection and the caches, not measured
        latencies.clear(), overheads.clear()
        completion_tokens = 0
        start = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        wall = time.perf_counter() - start
    return {
        "requests": len(bodies),
        "wall_s": wall,
        "req_per_s": len(bodies) / wall,
        "tok_per_s": completion_tokens / wall,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
        "completion_tokens": completion_tokens,
        "inside_gateway_p50_ms": statistics.median(overheads) if overheads else None,
    }


def start_vllm(model_dir: Path, runs_dir: Path, cores: str | None = None):
    """A vLLM server without LoRA; ``cores`` (e.g. "1") binds its worker threads there."""
    from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

    config = VLLMLaunchConfig(
        model_dir=model_dir,
        served_model_name="smollm2-135m-instruct",
        enable_lora=False,
        kv_cache_gib=1,
        cpu_threads=cores,
    )
    process = VLLMProcess(config, runs_dir, start_timeout_s=900)
    process.start()
    return process


def start_gateway(home: Path, engine_url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "RAGTUNE_GATEWAY__RATE_LIMIT_PER_MINUTE": "1000000",
    }
    command = [str(REPO / ".venv" / "bin" / "ragtune"), "serve", "--engine-url", engine_url, "--port", str(port)]
    with (home / "gateway.log").open("wb") as log:  # a pipe nobody reads would fill up and block it
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(f"http://127.0.0.1:{port}/healthz", process)
    return process


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 300) -> None:
    """Wait until ``url`` answers (200 or 503: up, engine state aside) while ``process`` runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url.split('/')[2]} exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise TimeoutError(f"{url} did not come up")


def plot(results: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    targets = sorted({r["target"] for r in results})
    concurrencies = sorted({r["concurrency"] for r in results})
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        rows = [next(r for r in results if r["target"] == target and r["concurrency"] == c) for c in concurrencies]
        xs = [j + i * width for j in range(len(concurrencies))]
        left.bar(xs, [r["tok_per_s"] for r in rows], width, label=target)
        right.bar(xs, [r["p50_ms"] for r in rows], width, label=target)
    for axis, heading in ((left, "throughput (output tok/s)"), (right, "latency p50 (ms)")):
        axis.set_xticks([j + width * (len(targets) - 1) / 2 for j in range(len(concurrencies))])
        axis.set_xticklabels([f"concurrency {c}" for c in concurrencies])
        axis.set_title(heading)
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine-url", help="An already running vLLM server (default: start one).")
    parser.add_argument("--requests", type=int, default=24, help="Requests per run.")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=2, help="Alternating direct/gateway rounds (best kept).")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--stub",
        action="store_true",
        help="a zero-latency stub engine (benchmarks/stub_engine.py) instead of vLLM: the "
        "gateway's own added latency without the engine's run-to-run noise",
    )
    parser.add_argument("--stub-ttft-ms", type=float, default=0.0, help="the stub's time to first token")
    parser.add_argument("--stub-itl-ms", type=float, default=0.0, help="the stub's time between tokens")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="vLLM on the last core, gateway and client on the others (as on a GPU host, "
        "where the gateway does not compete with the engine for CPU)",
    )
    args = parser.parse_args()
    all_cores = sorted(os.sched_getaffinity(0))
    if args.pin and len(all_cores) < 2:
        parser.error("--pin needs at least 2 cores")
    engine_cores = {all_cores[-1]} if args.pin else set(all_cores)
    client_cores = set(all_cores[:-1]) if args.pin else set(all_cores)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from ragtune import models as model_store
    from ragtune.settings import get_settings

    settings = get_settings()
    model_dir = model_store.resolve(settings.models.generator, settings.models_dir)
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    home = work / "home"
    home.mkdir()
    (home / "models").symlink_to(settings.models_dir, target_is_directory=True)
    os.sched_setaffinity(0, engine_cores)  # children inherit the affinity
    stub = vllm = None
    if args.stub:
        stub_port = args.port + 1
        stub = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "benchmarks" / "stub_engine.py"),
                "--port",
                str(stub_port),
                "--ttft-ms",
                str(args.stub_ttft_ms),
                "--itl-ms",
                str(args.stub_itl_ms),
            ],
            start_new_session=True,
        )
        engine_url = f"http://127.0.0.1:{stub_port}"
        wait_ready(f"{engine_url}/health", stub)
    else:
        vllm = (
            None if args.engine_url else start_vllm(model_dir, work / "runs", str(all_cores[-1]) if args.pin else None)
        )
        engine_url = args.engine_url or vllm.url
    os.sched_setaffinity(0, client_cores)
    gateway = start_gateway(home, engine_url, args.port)
    gateway_url = f"http://127.0.0.1:{args.port}"
    served = httpx.get(engine_url + "/v1/models").json()["data"][0]["id"]
    bodies_direct, bodies_gateway, bodies_openai = [], [], []
    for i in range(args.requests):
        question = QUESTIONS[i % len(QUESTIONS)]
        messages = [{"role": "user", "content": question}]
        # exactly what the gateway's vLLM engine sends (it streams, to measure time to first token)
        bodies_direct.append(
            {
                "model": served,
                "messages": messages,
                "max_tokens": args.max_tokens,
                "temperature": 0,
                "top_p": 1.0,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
        bodies_openai.append({"model": served, "messages": messages, "max_tokens": args.max_tokens, "temperature": 0})
        bodies_gateway.append({"question": question, "mode": "base", "max_tokens": args.max_tokens})
    direct_name = "stub direct" if args.stub else "vllm direct"
    targets = [
        (direct_name, engine_url, "/v1/chat/completions", bodies_direct),
        ("gateway /v1/chat", gateway_url, "/v1/chat", bodies_gateway),
        ("gateway /v1/chat/completions", gateway_url, "/v1/chat/completions", bodies_openai),
    ]
    best: dict[tuple[str, int], dict] = {}
    p50s: dict[tuple[str, int], list[float]] = {}
    try:
        for round_ in range(args.rounds):
            for concurrency in args.concurrency:
                order = targets if round_ % 2 == 0 else targets[::-1]  # alternate who runs first
                for name, url, path, bodies in order:
                    result = asyncio.run(run_load(url, path, bodies, concurrency, {}))
                    print(
                        f"round {round_ + 1} {name:30} c={concurrency}: {result['tok_per_s']:.1f} tok/s, "
                        f"p50 {result['p50_ms']:.1f} ms",
                        flush=True,
                    )
                    key = (name, concurrency)
                    p50s.setdefault(key, []).append(result["p50_ms"])
                    if key not in best or result["tok_per_s"] > best[key]["tok_per_s"]:
                        best[key] = {"target": name, "concurrency": concurrency, **result}
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        if vllm is not None:
            vllm.stop()
        if stub is not None:
            stub.terminate()
    results = list(best.values())
    lines = [
        (
            "| target | concurrency | tok/s | req/s | p50 ms | p95 ms | × direct tok/s | added p50 ms | "
            "in-gateway p50 ms |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        direct = best[(direct_name, r["concurrency"])]
        r["throughput_ratio"] = r["tok_per_s"] / direct["tok_per_s"]
        # paired per round (the same minute of the same engine), then the median over rounds
        pairs = zip(p50s[(r["target"], r["concurrency"])], p50s[(direct_name, r["concurrency"])], strict=True)
        r["added_p50_ms"] = statistics.median(mine - theirs for mine, theirs in pairs)
        r["p50_ms_by_round"] = p50s[(r["target"], r["concurrency"])]
        inside = "-" if r["inside_gateway_p50_ms"] is None else f"{r['inside_gateway_p50_ms']:.2f}"
        lines.append(
            f"| {r['target']} | {r['concurrency']} | {r['tok_per_s']:.1f} | {r['req_per_s']:.2f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['throughput_ratio']:.3f} | "
            f"{r['added_p50_ms']:+.1f} | {inside} |"
        )
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "engine": "stub" if args.stub else "vllm",
        "requests": args.requests,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "pinned": args.pin,
        "engine_cores": sorted(engine_cores),
        "gateway_and_client_cores": sorted(client_cores),
        "stub_ttft_ms": args.stub_ttft_ms,
        "stub_itl_ms": args.stub_itl_ms,
        "cpu_count": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "engine_url_given": bool(args.engine_url),
    }
    paced = args.stub_ttft_ms or args.stub_itl_ms
    if args.stub:
        name = "gateway_stub_paced" if paced else "gateway_stub"
    else:
        name = "gateway_pinned" if args.pin else "gateway"
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (RESULTS / f"{name}_table.md").write_text(table + "\n")
    engine = (
        (
            f"stub engine, TTFT {args.stub_ttft_ms:g} ms, ITL {args.stub_itl_ms:g} ms"
            if paced
            else "zero-latency stub engine"
        )
        if args.stub
        else "vLLM, SmolLM2-135M on CPU"
    )
    plot(results, RESULTS / f"{name}.png", f"ragtune gateway vs the engine direct ({engine})")
    print(f"wrote {RESULTS / name}.json, {name}_table.md and {name}.png")


if __name__ == "__main__":
    main()
