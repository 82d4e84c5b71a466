"""Merged vs unmerged adapters, measured with vLLM's own serving benchmark (`vllm.benchmarks.serve`).

    .venv/bin/python benchmarks/bench_engines_pool.py --target gateway   # through `ragtune serve`
    .venv/bin/python benchmarks/bench_engines_pool.py --target engines   # vLLM servers directly

Random 256-token prompts → 64 tokens, 32 requests, concurrency 8 (override with flags).

* ``gateway``: starts ``ragtune serve`` on a fresh RAGTUNE_HOME holding one adapter (a random LoRA
  r=16 on q/k/v/o with a ragtune card), once per adapter strategy (default ``merged``, then
  ``unmerged`` for reference), and benchmarks ``/v1/chat/completions`` with ``model`` = base
  (mode ``base``) and ``model`` = the adapter (mode ``ft``).
* ``engines``: starts the vLLM servers one at a time: LoRA-enabled base serving the adapter
  unmerged, plain base, and the adapter merged into its own model.

Writes benchmarks/results/engines_pool.md (table + the acceptance ratios) and a JSON file with every
raw result, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from ragtune.models import resolve  # noqa: E402
from ragtune.settings import Settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ADAPTER = "brand"


def make_adapter(base_dir: Path, out_dir: Path) -> Path:
    """bench_engines' random LoRA (r=16, q/k/v/o) with a ragtune card, like `ragtune train` leaves behind."""
    from bench_engines import make_adapter as random_lora

    from training.adapters import AdapterCard

    random_lora(base_dir, out_dir)
    card = AdapterCard(
        name=out_dir.name,
        path=str(out_dir),
        base_model=str(base_dir),
        method="lora",
        data_sha256="benchmark-random-weights",
        train_examples=0,
        eval_examples=0,
    )
    (out_dir / "adapter_card.json").write_text(card.model_dump_json(indent=2))
    return out_dir


def serve_bench(base_url: str, model: str, tokenizer: Path, args: argparse.Namespace, label: str) -> dict:
    """One run of vLLM's serving benchmark against an OpenAI-compatible chat endpoint."""
    from vllm.benchmarks.serve import add_cli_args, main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    bench_args = parser.parse_args(
        [
            "--backend",
            "openai-chat",
            "--base-url",
            base_url,
            "--endpoint",
            "/v1/chat/completions",
            "--model",
            model,
            "--tokenizer",
            str(tokenizer),
            "--dataset-name",
            "random",
            "--random-input-len",
            str(args.input_len),
            "--random-output-len",
            str(args.output_len),
            "--num-prompts",
            str(args.num_prompts),
            "--max-concurrency",
            str(args.concurrency),
            "--num-warmups",
            "2",
            "--seed",
            "0",
            "--disable-tqdm",
            "--label",
            label,
            "--percentile-metrics",
            "ttft,tpot,itl,e2el",
            "--metric-percentiles",
            "50,99",
            *(["--ignore-eos"] if args.ignore_eos else []),
        ]
    )
    result = main(bench_args)
    keep = (
        "completed",
        "failed",
        "output_throughput",
        "median_ttft_ms",
        "p99_ttft_ms",
        "median_tpot_ms",
        "total_output_tokens",
        "duration",
    )
    row = {"label": label, "model": model, **{k: result.get(k) for k in keep}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (work_log := RESULTS / "engines_pool_runs.jsonl").open("a") as handle:  # survives an interrupted run
        handle.write(json.dumps({**row, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    print(f"saved to {work_log}", flush=True)
    return row


def wait_http(url: str, process: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}); log {log}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 or response.json().get("engine", {}).get("ready"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} not ready after {timeout_s} s; log {log}")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def bench_gateway(args: argparse.Namespace, base_dir: Path, adapter_dir: Path, work: Path) -> list[dict]:
    rows = []
    for strategy in args.strategies.split(","):
        home = work / f"home-{strategy}"
        (home / "adapters").mkdir(parents=True)
        (home / "models").symlink_to(Settings().models_dir.resolve(), target_is_directory=True)
        shutil.copytree(adapter_dir, home / "adapters" / ADAPTER)
        port = 18000 + len(rows)
        env = {
            **os.environ,
            "RAGTUNE_HOME": str(home),
            "RAGTUNE_ENGINE__KIND": "vllm",
            "RAGTUNE_ENGINE__ADAPTER_STRATEGY": strategy,
            "RAGTUNE_ENGINE__MERGED_DIR": str(work / "merged"),
            "RAGTUNE_ENGINE__COMPILE": "true" if args.compile else "false",
            "RAGTUNE_GATEWAY__RATE_LIMIT_PER_MINUTE": "100000",
        }
        log = work / f"serve-{strategy}.log"
        started = time.monotonic()
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(REPO / ".venv" / "bin" / "ragtune"), "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz", server, 900, log)
            ready_s = time.monotonic() - started
            base = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]
            first = time.monotonic()  # the first adapter request waits for a lazily started engine
            httpx.post(
                f"{url}/v1/chat/completions",
                timeout=900,
                json={"model": ADAPTER, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            )
            first_s = time.monotonic() - first
            print(f"[{strategy}] gateway ready in {ready_s:.0f} s; first adapter answer {first_s:.0f} s", flush=True)
            for round_no in range(1, args.rounds + 1):  # alternate, so drifts hit both modes alike
                order = (("base", base), ("ft", ADAPTER)) if round_no % 2 else (("ft", ADAPTER), ("base", base))
                for label, model in order:
                    row = serve_bench(url, model, base_dir, args, f"gateway {strategy} {label} #{round_no}")
                    row.update(
                        strategy=strategy,
                        mode=label,
                        round=round_no,
                        ready_s=round(ready_s, 1),
                        first_adapter_answer_s=round(first_s, 1),
                    )
                    rows.append(row)
            health = httpx.get(f"{url}/v1/health", timeout=30).json()  # the detail (keyless: local admin)
            rows[-1]["healthz"] = health
        finally:
            stop(server)
    return rows


def bench_engines(args: argparse.Namespace, base_dir: Path, adapter_dir: Path, work: Path) -> list[dict]:
    from services.engines.merged_models import merged_model_dir
    from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

    merged_dir = merged_model_dir(base_dir, adapter_dir, work / "merged")
    eager = [] if args.compile else ["--enforce-eager"]
    setups = [
        (
            "lora-enabled base",
            VLLMLaunchConfig(
                model_dir=base_dir, served_model_name="base", lora_modules={ADAPTER: adapter_dir}, max_lora_rank=16
            ),
            [("base", "base"), ("ft unmerged", ADAPTER)],
        ),
        (
            "plain base",
            VLLMLaunchConfig(model_dir=base_dir, served_model_name="base", enable_lora=False, extra_args=eager),
            [("base", "base")],
        ),
        (
            "merged adapter",
            VLLMLaunchConfig(model_dir=merged_dir, served_model_name=ADAPTER, enable_lora=False, extra_args=eager),
            [("ft merged", ADAPTER)],
        ),
    ]
    rows = []
    for server_label, config, runs in setups:
        with VLLMProcess(config, work / "runs", start_timeout_s=900) as process:
            for label, model in runs:
                row = serve_bench(process.url, model, base_dir, args, f"{server_label}: {label}")
                row.update(server=server_label, mode=label, start_s=round(process.start_seconds, 1))
                rows.append(row)
    return rows


def table(rows: list[dict]) -> list[str]:
    header = ["run", "output tok/s", "TTFT p50 ms", "TTFT p99 ms", "TPOT p50 ms", "output tokens", "completed/failed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['output_throughput']:.1f} | {r['median_ttft_ms']:.0f} | "
            f"{r['p99_ttft_ms']:.0f} | {r['median_tpot_ms']:.0f} | {r['total_output_tokens']} | "
            f"{r['completed']}/{r['failed']} |"
        )
    return lines


def ratios(rows: list[dict]) -> list[str]:
    """ft vs base in the same gateway run (the acceptance: ≥ 0.9× throughput, ≤ 1.2× TTFT p50),
    on the median over the alternating rounds."""
    lines = []
    for strategy in sorted({r.get("strategy") or r.get("server") for r in rows}):
        mine = [r for r in rows if (r.get("strategy") or r.get("server")) == strategy]
        base = [r for r in mine if r["mode"] == "base"]
        ft = [r for r in mine if r["mode"] == "ft"]
        if base and ft:
            tput = median([r["output_throughput"] for r in ft]) / median([r["output_throughput"] for r in base])
            ttft = median([r["median_ttft_ms"] for r in ft]) / median([r["median_ttft_ms"] for r in base])
            verdict = "PASS" if tput >= 0.9 and ttft <= 1.2 else "FAIL"
            lines.append(
                f"- `{strategy}` (median of {len(ft)} rounds): ft/base output throughput {tput:.2f}× "
                f"(≥ 0.9), TTFT p50 {ttft:.2f}× (≤ 1.2) → {verdict}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["gateway", "engines"], default="gateway")
    parser.add_argument("--strategies", default="merged,unmerged", help="gateway target: strategies to run")
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--input-len", type=int, default=256)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="gateway target: alternating base/ft rounds")
    parser.add_argument(
        "--no-ignore-eos",
        dest="ignore_eos",
        action="store_false",
        help="let answers stop at end-of-sequence (output lengths then differ by model)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="let vLLM compile the engines without LoRA (minutes per start on 2 busy cores)",
    )
    args = parser.parse_args()

    settings = Settings()
    base_dir = resolve(settings.models.generator, settings.models_dir)
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        work = Path(tmp)
        adapter_dir = make_adapter(base_dir, work / ADAPTER)
        runner = bench_gateway if args.target == "gateway" else bench_engines
        rows = runner(args, base_dir, adapter_dir, work)

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    name = "engines_pool" if args.target == "gateway" else "engines_pool_direct"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=2, default=str))
    load = os.getloadavg()
    lines = [
        f"# Merged vs unmerged adapters ({args.target})",
        "",
        f"`benchmarks/bench_engines_pool.py --target {args.target}` — `vllm.benchmarks.serve`, random "
        f"{args.input_len}-token prompts → {args.output_len} tokens, {args.num_prompts} requests, concurrency "
        f"{args.concurrency}; {platform.machine()}, {os.cpu_count()} cores, {stamp}, load average at the end "
        f"{load[0]:.1f} (a shared machine: compare rows of the same run). Adapter: random LoRA r=16 on "
        "q/k/v/o. `merged` = the adapter merged into its own vLLM engine (no `--enable-lora`); `unmerged` = "
        "LoRA on the shared base engine (`--enable-lora`). Engines without LoRA "
        f"{'compiled' if args.compile else 'eager (`--enforce-eager`, RAGTUNE_ENGINE__COMPILE=false)'}.",
        "",
        *table(rows),
        "",
        *ratios(rows),
        "",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
