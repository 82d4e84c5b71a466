"""The full benchmark + evaluation run on the sample corpus (what benchmarks/results/sample/ holds).

Prepares RAGTUNE_HOME (the sample corpus indexed, the ``zaragoza-voice`` adapter trained or
reused), starts ONE gateway (``ragtune serve``, vLLM on CPU by default) and drives it with
``ragtune bench`` and ``ragtune eval`` into one output folder:

    RAGTUNE_HOME=/tmp/ragtune-bench-home .venv/bin/python benchmarks/run_sample_evaluation.py \
        --out benchmarks/results/sample

Sizes are options so a quick look (``--num-prompts 4 --concurrency 1 --limit 10``) and the full run
use the same script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ragtune.console import console, progress_bar  # noqa: E402
from ragtune.settings import get_settings  # noqa: E402


def _bar(description: str):
    """A progress-bar factory for the runner: ``factory(total)`` is a context manager."""
    return lambda total: progress_bar(description, total=max(total, 1))


def held_out_entries(qa_file: Path) -> frozenset[str]:
    """The FAQ entries of the evaluated questions: the adapter must not train on them."""
    from services.evaluation.datasets import load_qa

    return frozenset(item.faq_id for item in load_qa(qa_file) if item.faq_id)


def prepare(
    settings,
    adapter_from: Path | None,
    train: bool = True,
    qa_file: Path = REPO / "benchmarks" / "qa" / "sample_qa.jsonl",
) -> None:
    """Index the sample corpus and make the sample adapter available in RAGTUNE_HOME (context-aware
    unless ``train.sample_with_context`` is off; never trained on the evaluated FAQ entries)."""
    from indexer import DocumentStore
    from indexer.sample import build_sample_corpus
    from ragtune import models

    settings.ensure_dirs()
    for name in (settings.models.generator, settings.models.embedder):
        if name in models.BUILTIN_MODELS and models.read_manifest(settings.models_dir / name) is None:
            models.pull(name, settings.models_dir)
    paths = build_sample_corpus(settings.home / "corpus" / "sample")
    store = DocumentStore.open(
        settings.index_dir, models.resolve(settings.models.embedder, settings.models_dir), settings.index
    )
    try:
        report = store.add_paths(paths)
        console.print(
            f"index: {report.added} added, {report.replaced} replaced, {report.count('skipped')} unchanged documents"
        )
    finally:
        store.close()
    target = settings.adapters_dir / "zaragoza-voice"
    if adapter_from is not None and not target.exists():
        shutil.copytree(adapter_from, target)
    if train and not target.exists():
        from training.sample import ensure_sample_adapter

        started = time.monotonic()
        ensure_sample_adapter(settings, held_out=held_out_entries(qa_file))
        console.print(f"trained zaragoza-voice in {time.monotonic() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sample")
    parser.add_argument("--url", help="use this running gateway instead of starting one")
    parser.add_argument("--adapter-from", type=Path, help="copy an already trained zaragoza-voice folder")
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="do not train zaragoza-voice when it is missing (ft/hybrid are then skipped)",
    )
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--num-prompts", type=int, default=16)
    parser.add_argument("--bench-max-tokens", type=int, default=64)
    parser.add_argument("--eval-max-tokens", type=int, default=96)
    parser.add_argument("--eval-concurrency", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="only the first N QA items")
    parser.add_argument("--skip", choices=["bench", "eval"], action="append", default=[])
    parser.add_argument("--modes", help="answer modes to evaluate, comma-separated (default: all)")
    parser.add_argument("--note", help="a line about the run conditions, shown at the top of report.md")
    args = parser.parse_args()

    from services.evaluation.gateway import discover, managed_gateway
    from services.evaluation.runner import BenchOptions, EvalOptions, run_bench, run_eval

    settings = get_settings()
    prepare(settings, args.adapter_from, train=not args.no_train)
    qa = REPO / "benchmarks" / "qa" / "sample_qa.jsonl"
    questions = REPO / "benchmarks" / "qa" / "sample_questions.txt"

    def run(url: str) -> None:
        info = discover(url)
        console.print(f"gateway {url}: base {info.base_model}, engine {info.engine_url}, adapters {info.adapters}")
        if "bench" not in args.skip:
            run_bench(
                BenchOptions(
                    url=url,
                    questions=questions,
                    out=args.out,
                    concurrency=[int(c) for c in args.concurrency.split(",")],
                    num_prompts=args.num_prompts,
                    max_tokens=args.bench_max_tokens,
                ),
                settings,
                _bar("bench"),
            )
        if "eval" not in args.skip:
            run_eval(
                EvalOptions(
                    url=url,
                    qa=qa,
                    out=args.out,
                    max_tokens=args.eval_max_tokens,
                    concurrency=args.eval_concurrency,
                    limit=args.limit,
                    **({"modes": args.modes.split(",")} if args.modes else {}),
                ),
                settings,
                _bar("eval"),
            )

    if args.url:
        run(args.url.rstrip("/"))
    else:
        with managed_gateway(settings.runs_dir, settings.engine.start_timeout_s + 120) as url:
            run(url)
    if args.note:
        from services.evaluation import report

        data = report.load_results(args.out)
        data.setdefault("meta", {})["conditions"] = args.note
        report.save_results(args.out, data)
        report.write_report(args.out, data)
    console.print(f"[green]done[/]: {args.out / 'report.md'}")


if __name__ == "__main__":
    main()
