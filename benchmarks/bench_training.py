"""Training speed on this machine: the Trainer-based step against the old hand loop's step, and 1
against 2 CPU processes, on batches of the bundled brand-voice sample with the same global batch.

Modes (each run in its own process, so peak memory is its own; the rounds interleave the modes so
that a shared machine's load falls on all of them alike):

* ``hand``: the step of the hand-written loop that ragtune used before the Trainer (collate,
  decoder forward, head on the assistant positions, backward, clipping, AdamW), kept here as the
  reference;
* ``trainer``: ``training.trainer.train_model`` (transformers' Trainer) in one process;
* ``trainer-2p``: the same under ``accelerate launch`` in 2 CPU processes (gloo), half the
  per-process batch, so the global batch is the same.

One warm-up step, then ``--steps`` measured optimizer steps; s/step is the wall time from one
optimizer step's end to the next (data, forward, backward, optimizer, logging: everything but the
final evaluation), tokens/s counts every non-padding token of the global batch.

    .venv/bin/python benchmarks/bench_training.py [--steps 6] [--batch-size 4] [--rounds 2] [--method lora]
        [--device cpu|cuda] [--modes hand trainer trainer-2p] [--out training]

Writes benchmarks/results/OUT.{json,md,png} (OUT: --out, default training) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))
MODES = ("hand", "trainer", "trainer-2p")


def _setup(method: str, batch_size: int):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragtune import models as model_store
    from ragtune.settings import get_settings
    from training.chat_tokens import encode_example
    from training.modeling import load_tokenizer
    from training.readers import read_examples
    from training.sample import sample_dataset_path

    settings = get_settings()
    hp = settings.train.model_copy(
        update={
            "batch_size": batch_size,
            "method": method,
            "warmup_ratio": 0.0,
            "early_stopping_patience": 0,
            "checkpoint_every": 10_000,
        }
    )
    base = model_store.resolve(settings.models.generator, settings.models_dir)
    tokenizer = load_tokenizer(base)
    examples = [e for _, e in read_examples(sample_dataset_path())[0]]
    encoded = [encode_example(e, tokenizer, hp.max_seq_len) for e in examples]
    return hp, base, tokenizer, encoded


def _old_loss_sum(model, batch):
    """The hand loop's loss: the decoder called directly, the head on the assistant positions."""
    import torch.nn.functional as F

    labels = batch["labels"][:, 1:]
    keep = labels != -100
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = core.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = core.get_output_embeddings()(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, labels[keep], reduction="sum"), int(keep.sum())


def measure_hand(method: str, steps: int, batch_size: int, device: str = "cpu") -> dict:
    import torch

    from training.evaluation import collate
    from training.hardware import choose_hardware, probe_capabilities
    from training.modeling import load_trainable_model

    hp, base, tokenizer, encoded = _setup(method, batch_size)
    plan = choose_hardware(probe_capabilities(), device, "auto", method)
    model = load_trainable_model(base, method, hp, plan)
    if plan.device == "cuda" and method != "qlora":
        model.to("cuda")
    params = [p for p in model.parameters() if p.requires_grad]
    lr = hp.full_learning_rate if method == "full" else hp.learning_rate
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=hp.weight_decay)
    model.train()
    timings, tokens = [], []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        batch = collate(encoded[step * batch_size : (step + 1) * batch_size], tokenizer.pad_token_id)
        batch = {k: v.to(plan.device) for k, v in batch.items()}
        with torch.autocast(
            plan.device, dtype=torch.bfloat16 if plan.precision == "bf16" else torch.float16, enabled=plan.autocast
        ):
            loss_sum, n = _old_loss_sum(model, batch)
        (loss_sum / max(n, 1)).backward()
        torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if plan.device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        if step > 0:  # step 0 is warm-up
            timings.append(elapsed)
            tokens.append(int(batch["attention_mask"].sum()))
    return _figures("hand", method, batch_size, 1, timings, tokens, plan)


def measure_trainer(method: str, steps: int, batch_size: int, device: str = "cpu") -> dict | None:
    """The Trainer in this process, or in each process of an ``accelerate launch`` (rank 0 reports)."""
    from transformers import TrainerCallback

    from training.hardware import choose_hardware, probe_capabilities
    from training.modeling import load_trainable_model
    from training.trainer import train_model

    world = int(os.environ.get("WORLD_SIZE", "1"))
    hp, base, tokenizer, encoded = _setup(method, batch_size // world)
    plan = choose_hardware(probe_capabilities(), device, "auto", method)
    model = load_trainable_model(base, method, hp, plan)
    ends: list[float] = []
    seen: list[int] = []

    class Clock(TrainerCallback):
        """Wall time and non-padding tokens (of all processes: the Trainer gathers them) per step."""

        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())
            seen.append(int(state.num_input_tokens_seen))
            return control

    with tempfile.TemporaryDirectory() as run_dir:
        train_model(
            model,
            encoded,
            encoded[:8],
            hp=hp,
            plan=plan,
            learning_rate=hp.learning_rate,
            pad_id=tokenizer.pad_token_id,
            run_dir=Path(run_dir),
            config_sha256="bench",
            max_steps=steps + 1,
            callbacks=[Clock()],
        )
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    timings = [b - a for a, b in pairwise(ends)]
    tokens = [b - a for a, b in pairwise(seen)]
    return _figures("trainer" if world == 1 else f"trainer-{world}p", method, batch_size, world, timings, tokens, plan)


def _figures(
    mode: str, method: str, batch_size: int, processes: int, timings: list[float], tokens: list[int], plan
) -> dict:
    import torch

    gpu_peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if plan.device == "cuda" else None
    return {
        "mode": mode,
        "method": method,
        "global_batch_size": batch_size,
        "processes": processes,
        "device": plan.device_name or plan.device,
        "precision": plan.precision,
        "peak_gpu_mb": gpu_peak,
        "steps": len(timings),
        "seconds_per_step": round(statistics.mean(timings), 3),
        "tokens_per_second": round(sum(tokens) / sum(timings), 1),
        "tokens_per_step": round(sum(tokens) / len(tokens), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch_threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 2),
    }


def _run(mode: str, args: argparse.Namespace) -> dict:
    one = [
        __file__,
        "--one",
        mode,
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--method",
        args.method,
        "--device",
        args.device,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if mode == "trainer-2p":
        from training.cli import _free_port, launch_command

        env.update({"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // 2))})
        if args.device == "cpu":
            env.update({"CUDA_VISIBLE_DEVICES": ""})
        command = launch_command(2, args.device, None, [], port=_free_port())
        command = command[: command.index("-m", 3)] + one  # the launcher runs this script
    else:
        command = [sys.executable, *one]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"mode": mode, "error": (result.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4, help="global batch (split over processes)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--method", default="lora")
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="training", help="file stem under benchmarks/results/")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        from training.trainer import quiet_libraries

        quiet_libraries()
        figures = (
            measure_hand(args.method, args.steps, args.batch_size, args.device)
            if args.one == "hand"
            else measure_trainer(args.method, args.steps, args.batch_size, args.device)
        )
        if figures is not None:
            print(json.dumps(figures), flush=True)
        return
    runs = []
    for round_number in range(args.rounds):
        for mode in args.modes:
            row = _run(mode, args)
            row["round"] = round_number + 1
            runs.append(row)
            print(f"round {round_number + 1} {mode}: {row.get('tokens_per_second', row.get('error'))}", file=sys.stderr)
    summary = []
    for mode in args.modes:
        ok = [r for r in runs if r.get("mode") == mode and "error" not in r]
        if not ok:
            summary.append({"mode": mode, "error": next(r["error"] for r in runs if r["mode"] == mode)})
            continue
        summary.append(
            {
                **ok[-1],
                "seconds_per_step": round(statistics.median(r["seconds_per_step"] for r in ok), 3),
                "tokens_per_second": round(statistics.median(r["tokens_per_second"] for r in ok), 1),
                "runs": len(ok),
                "load_average": [r["load_average"] for r in ok],
            }
        )
    reference = next((r for r in summary if r["mode"] == "hand" and "error" not in r), None)
    lines = [
        "| mode | device | precision | processes | global batch | s/step | tokens/s | vs hand loop | "
        "peak RSS MB (rank 0) | peak GPU MB | load avg per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        if "error" in row:
            lines.append(f"| {row['mode']} | error: {row['error']} | | | | | | | | | |")
            continue
        ratio = f"{row['tokens_per_second'] / reference['tokens_per_second']:.2f}×" if reference else "-"
        gpu = f"{row['peak_gpu_mb']:.0f}" if row.get("peak_gpu_mb") else "-"
        lines.append(
            f"| {row['mode']} | {row['device']} | {row['precision']} | {row['processes']} | "
            f"{row['global_batch_size']} | "
            f"{row['seconds_per_step']:.2f} | {row['tokens_per_second']:.1f} | {ratio} | "
            f"{row['peak_rss_mb']:.0f} | {gpu} | {', '.join(f'{x:.1f}' for x in row['load_average'])} |"
        )
    table = "\n".join(
        [
            "# Training speed",
            "",
            f"`benchmarks/bench_training.py --steps {args.steps} --batch-size {args.batch_size} --rounds {args.rounds} "
            f"--method {args.method} --device {args.device}`: SmolLM2-135M, {args.method}, on {_machine(args.device)}, "
            f"batches of the "
            f"bundled brand-voice sample, one warm-up step then {args.steps} measured optimizer steps per run, each "
            f"run in its own process(es), modes interleaved over {args.rounds} rounds, medians shown "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
            "",
            *lines,
            "",
        ]
    )
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_end": os.getloadavg()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": vars(args),
        "summary": summary,
        "runs": runs,
    }
    (RESULTS / f"{args.out}.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / f"{args.out}.md").write_text(table)
    ok = [r for r in summary if "error" not in r]
    if ok:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        names = [r["mode"] for r in ok]
        left.bar(names, [r["seconds_per_step"] for r in ok], color="#4c72b0")
        left.set_title(f"seconds per step (global batch {args.batch_size})")
        right.bar(names, [r["tokens_per_second"] for r in ok], color="#55a868")
        right.set_title("training tokens / s")
        fig.suptitle(f"ragtune {args.method} training on {_machine(args.device)} (load avg {os.getloadavg()[0]:.1f})")
        fig.tight_layout()
        fig.savefig(RESULTS / f"{args.out}.png", dpi=110)
    print(f"results: {RESULTS / (args.out + '.json')}", file=sys.stderr)


def _machine(device: str) -> str:
    if device == "cuda":
        import torch

        return f"{torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} visible)"
    return f"{os.cpu_count()} CPU cores"


if __name__ == "__main__":
    main()
