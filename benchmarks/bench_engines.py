"""Engine benchmark: start time and output tokens/s, base vs LoRA adapter, on both engines.

    .venv/bin/python benchmarks/bench_engines.py [--requests 6] [--max-tokens 64] [--concurrency 4]

Both engines run the same SmolLM2 base and the same random LoRA adapter (r=16 on q/k/v/o, made here).
Sequential requests give single-stream speed; the vLLM engine is also measured with concurrent
requests (the local engine runs one generation at a time by design). Writes
benchmarks/results/engines.md and prints the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ragtune.models import resolve  # noqa: E402
from ragtune.settings import Settings  # noqa: E402
from services.engines.base import ChatMessage, Engine, GenerationRequest  # noqa: E402

QUESTIONS = [
    "Write a short paragraph about the sea.",
    "Explain what a building permit is.",
    "Give three tips for painting a wall.",
    "Describe a good customer service reply.",
    "What should I check before buying a house?",
    "Write a friendly greeting for a construction company website.",
    "How do I insulate an attic?",
    "What is concrete made of?",
]


def make_adapter(base_dir: Path, out_dir: Path) -> Path:
    """A random-weight LoRA (r=16, q/k/v/o) on the base: the shape of a trained brand adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=16,
        lora_alpha=32,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, config).save_pretrained(out_dir)
    return out_dir


async def measure(
    engine: Engine, adapter: str | None, requests: int, max_tokens: int, concurrency: int
) -> dict[str, float]:
    """Output tokens/s over ``requests`` chat requests (``concurrency`` at a time) and TTFT p50."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with gate:
            request = GenerationRequest(
                messages=[ChatMessage(role="user", content=QUESTIONS[i % len(QUESTIONS)])],
                adapter=adapter,
                max_tokens=max_tokens,
            )
            return await engine.generate(request)

    await one(0)  # warm-up
    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(requests)))
    elapsed = time.perf_counter() - started
    tokens = sum(r.completion_tokens for r in results)
    return {"tok_s": tokens / elapsed, "ttft_p50_ms": statistics.median(r.ttft_ms for r in results), "tokens": tokens}


async def bench_engine(
    kind: str, engine: Engine, adapter_name: str, args: argparse.Namespace, rows: list[list[str]]
) -> None:
    started = time.perf_counter()
    await engine.start()
    start_s = time.perf_counter() - started
    try:
        levels = [1] if kind == "local" else [1, args.concurrency]
        for concurrency in levels:
            for label, adapter in (("base", None), ("adapter", adapter_name)):
                m = await measure(engine, adapter, args.requests, args.max_tokens, concurrency)
                rows.append(
                    [
                        kind,
                        f"{start_s:.1f}",
                        label,
                        str(concurrency),
                        f"{m['tok_s']:.1f}",
                        f"{m['ttft_p50_ms']:.0f}",
                        str(m["tokens"]),
                    ]
                )
                print(" | ".join(rows[-1]), flush=True)
    finally:
        await engine.stop()


def venv_size() -> str:
    try:
        out = subprocess.run(["du", "-sh", str(REPO / ".venv")], capture_output=True, text=True, timeout=120)
        return out.stdout.split()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--engines", default="local,vllm")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "engines.md")
    args = parser.parse_args()

    settings = Settings()
    base_dir = resolve(settings.models.generator, settings.models_dir)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        adapter_dir = make_adapter(base_dir, Path(tmp) / "brand")
        adapters = {"brand": adapter_dir}
        for kind in args.engines.split(","):
            if kind == "local":
                from services.engines.local_engine import LocalEngine

                engine = LocalEngine(model_dir=base_dir, served_model_name="base", adapters=adapters)
            else:
                from services.engines.vllm_engine import VLLMEngine
                from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

                config = VLLMLaunchConfig(
                    model_dir=base_dir,
                    served_model_name="base",
                    lora_modules=adapters,
                    max_loras=4,
                    max_lora_rank=16,
                    kv_cache_gib=1,
                )
                process = VLLMProcess(config, Path(tmp) / "runs", start_timeout_s=600)
                engine = VLLMEngine(served_model_name="base", process=process, adapters=adapters)
            await bench_engine(kind, engine, "brand", args, rows)

    header = ["engine", "start s", "model", "concurrency", "output tok/s", "TTFT p50 ms", "tokens"]
    lines = [
        "# Engine benchmark",
        "",
        f"`benchmarks/bench_engines.py --requests {args.requests} --max-tokens {args.max_tokens} "
        f"--concurrency {args.concurrency}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. SmolLM2-135M-Instruct fp32; adapter = random "
        "LoRA r=16 on q/k/v/o served unmerged. vLLM started with `--enable-lora --max-loras 4`, 1 GiB KV "
        f"cache, threads bound to all cores. Start = until the engine answers. venv size: {venv_size()}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
