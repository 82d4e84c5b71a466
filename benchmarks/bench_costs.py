"""Fair self-hosted costs: do the per-request costs add up to what the machine cost?

Sends the same fixed-work requests (base mode, ``ignore_eos``: exactly ``--max-tokens`` tokens each)
through a real gateway over a real vLLM engine at concurrency 1 and 8, and compares, per run,
Σ per-request ``cost.usd`` with wall time × ``prices.usd_per_hour`` (the machine's cost for the
run). It also shows what charging every request its own engine wall time (the old rule) would sum
to. Goal: Σ cost within ±10 % of the machine cost at concurrency 8. Writes
benchmarks/results/costs.{json,md}.

    .venv/bin/python benchmarks/bench_costs.py                 # starts its own vLLM (≈ 1-5 min on CPU)
    .venv/bin/python benchmarks/bench_costs.py --engine-url http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
USD_PER_HOUR = 3.6  # one cent per 10 s: large enough to read, the ratio is what counts
QUESTIONS = [
    "What is an energy declaration?",
    "How often should a ventilation filter be changed?",
    "What is shoreline protection?",
    "What does an FTX unit do?",
]


async def run(url: str, model: str, requests: int, concurrency: int, max_tokens: int) -> dict:
    """``requests`` completions at ``concurrency``; the sums and the wall time of the run."""
    queue = list(range(requests))
    costs: list[float] = []
    own_engine_ms: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            body = {
                "model": model,
                "max_tokens": max_tokens,
                "ignore_eos": True,
                "temperature": 0,
                "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
            }
            response = await client.post("/v1/chat/completions", json=body)
            response.raise_for_status()
            extras = response.json()["ragtune"]
            costs.append(extras["cost"]["usd"])
            own_engine_ms.append(extras["latency_ms"]["ttft"] + extras["latency_ms"]["generation"])

    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall_s = time.perf_counter() - started
    machine_usd = wall_s * USD_PER_HOUR / 3600
    old_usd = sum(own_engine_ms) / 3_600_000 * USD_PER_HOUR
    return {
        "concurrency": concurrency,
        "requests": requests,
        "max_tokens": max_tokens,
        "wall_s": round(wall_s, 3),
        "machine_usd": machine_usd,
        "sum_request_usd": sum(costs),
        "ratio": sum(costs) / machine_usd,
        "old_rule_sum_usd": old_usd,
        "old_rule_ratio": old_usd / machine_usd,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine-url", help="an external vLLM server (default: start one)")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    from ragtune import models as model_store
    from ragtune.settings import Settings
    from services.gateway.server import BackgroundGateway

    base = Settings()
    process = None
    engine_url = args.engine_url
    with tempfile.TemporaryDirectory() as work:
        if engine_url is None:
            from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

            model_dir = model_store.resolve(base.models.generator, base.models_dir)
            config = VLLMLaunchConfig(
                model_dir=model_dir, served_model_name="smollm2-135m-instruct", enable_lora=False, kv_cache_gib=1
            )
            process = VLLMProcess(config, Path(work) / "vllm", start_timeout_s=900)
            process.start()
            engine_url = process.url
        home = Path(work) / "home"
        home.mkdir()
        (home / "models").symlink_to(base.models_dir, target_is_directory=True)
        settings = Settings(
            home=home,
            engine={"kind": "vllm", "url": engine_url},
            prices={"usd_per_hour": USD_PER_HOUR},
            gateway={"rate_limit_per_minute": 1_000_000, "max_tokens_limit": 4096},
        )
        try:
            with BackgroundGateway(settings) as gateway:
                model = httpx.get(gateway.url + "/v1/models").json()["data"][0]["id"]
                asyncio.run(run(gateway.url, model, 4, 4, 8))  # warm-up
                rows = [asyncio.run(run(gateway.url, model, args.requests, c, args.max_tokens)) for c in (1, 8)]
        finally:
            if process is not None:
                process.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "engine": "vLLM (CPU)",
        "usd_per_hour": USD_PER_HOUR,
    }
    (RESULTS / "costs.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    lines = [
        "# Self-hosted cost: Σ per-request cost vs the machine's cost",
        "",
        f"Engine: {meta['engine']} on {meta['machine']}; ${USD_PER_HOUR}/h; {args.requests} requests of "
        f"{args.max_tokens} tokens (ignore_eos) through the gateway per run. Machine cost = wall time × $/h. "
        "`fair` is the gateway's rule (engine time shared among concurrent requests); `old` charged every "
        "request its own engine time. Goal: fair/machine within ±10 % at concurrency 8.",
        "",
        "| concurrency | wall s | machine $ | Σ fair $ | fair / machine | Σ old $ | old / machine |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['concurrency']} | {r['wall_s']:.1f} | {r['machine_usd']:.5f} | "
            f"{r['sum_request_usd']:.5f} | {r['ratio']:.3f} | {r['old_rule_sum_usd']:.5f} | "
            f"{r['old_rule_ratio']:.2f} |"
        )
    (RESULTS / "costs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
