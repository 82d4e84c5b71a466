"""Training speed on this machine: seconds per optimizer step and tokens/s for lora / qlora / full.

Each method runs in its own subprocess (so peak memory is its own) on batches of the bundled
brand-voice sample: one warm-up step, then ``--steps`` measured steps.

    .venv/bin/python benchmarks/bench_training.py [--steps 4] [--batch-size 4] [--methods lora qlora full]

Writes benchmarks/results/training.{json,md,png} and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))


def measure(method: str, steps: int, batch_size: int) -> dict:
    """Run one method in this process and return its figures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from ragtune import models as model_store
    from ragtune.settings import get_settings
    from training.chat_tokens import encode_example
    from training.evaluation import collate, token_loss_sum
    from training.modeling import load_tokenizer, load_trainable_model, trainable_parameters
    from training.readers import read_examples
    from training.sample import sample_dataset_path

    settings = get_settings()
    hp = settings.train.model_copy(update={"batch_size": batch_size})
    base = model_store.resolve(settings.models.generator, settings.models_dir)
    tokenizer = load_tokenizer(base)
    examples = [e for _, e in read_examples(sample_dataset_path())[0]]
    encoded = [encode_example(e, tokenizer, hp.max_seq_len) for e in examples]
    started = time.perf_counter()
    model = load_trainable_model(base, method, hp)
    load_s = time.perf_counter() - started
    trainable, total = trainable_parameters(model)
    params = [p for p in model.parameters() if p.requires_grad]
    lr = hp.full_learning_rate if method == "full" else hp.learning_rate
    optimizer = torch.optim.AdamW(params, lr=lr)
    model.train()
    timings, tokens = [], []
    for step in range(steps + 1):
        batch = collate(encoded[step * batch_size:(step + 1) * batch_size], tokenizer.pad_token_id)
        t0 = time.perf_counter()
        loss_sum, n = token_loss_sum(model, batch)
        (loss_sum / max(n, 1)).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - t0
        if step > 0:  # step 0 is warm-up
            timings.append(elapsed)
            tokens.append(int(batch["attention_mask"].sum()))
    s_per_step = sum(timings) / len(timings)
    return {
        "method": method, "steps": steps, "batch_size": batch_size,
        "seconds_per_step": round(s_per_step, 3),
        "tokens_per_second": round(sum(tokens) / sum(timings), 1),
        "tokens_per_step": round(sum(tokens) / len(tokens), 1),
        "load_seconds": round(load_s, 2),
        "trainable_parameters": trainable, "total_parameters": total,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["lora", "qlora", "full"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.batch_size)))
        return
    rows = []
    for method in args.methods:
        result = subprocess.run([sys.executable, __file__, "--one", method, "--steps", str(args.steps),
                                 "--batch-size", str(args.batch_size)], capture_output=True, text=True)
        if result.returncode != 0:
            rows.append({"method": method, "error": result.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(f"{method}: done", file=sys.stderr)
    lines = ["| method | s/step | tokens/s | tokens/step | trainable params | peak RSS MB | load s |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['method']} | error: {row['error']} | | | | | |")
            continue
        lines.append(f"| {row['method']} | {row['seconds_per_step']:.2f} | {row['tokens_per_second']:.1f} | "
                     f"{row['tokens_per_step']:.1f} | {row['trainable_parameters']:,} | {row['peak_rss_mb']:.0f} | "
                     f"{row['load_seconds']:.1f} |")
    load = os.getloadavg()[0]
    table = "\n".join([
        "# Training speed", "",
        f"`benchmarks/bench_training.py --steps {args.steps} --batch-size {args.batch_size}`: SmolLM2-135M on "
        f"{os.cpu_count()} CPU cores, batches of the bundled brand-voice sample, one warm-up step then "
        f"{args.steps} measured optimizer steps per method, each method in its own process "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at the end {load:.1f}).", "",
        *lines, ""])
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "load_average": os.getloadavg()},
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": rows}
    (RESULTS / "training.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / "training.md").write_text(table)
    ok = [r for r in rows if "error" not in r]
    if ok:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        names = [r["method"] for r in ok]
        left.bar(names, [r["seconds_per_step"] for r in ok], color="#4c72b0")
        left.set_title(f"seconds per step (batch {args.batch_size})")
        right.bar(names, [r["tokens_per_second"] for r in ok], color="#55a868")
        right.set_title("training tokens / s")
        fig.suptitle(f"ragtune training on {os.cpu_count()} CPU cores (load avg {os.getloadavg()[0]:.1f})")
        fig.tight_layout()
        fig.savefig(RESULTS / "training.png", dpi=110)
    print(f"results: {RESULTS / 'training.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
