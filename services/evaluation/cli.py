"""CLI commands of `services.evaluation`: ``ragtune bench`` and ``ragtune eval``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer

from ragtune.errors import RagtuneError

DEFAULT_OUT = Path("ragtune-results")


def _csv_ints(value: str) -> list[int]:
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise RagtuneError(f"--concurrency takes whole numbers separated by commas, got {value!r}") from None
    if not numbers or any(n < 1 for n in numbers):
        raise RagtuneError(f"--concurrency needs numbers ≥ 1, got {value!r}")
    return numbers


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _progress(description: str):
    from ragtune.console import progress_bar

    @contextmanager
    def factory(total: int):
        with progress_bar(description, total=max(total, 1)) as update:
            yield update

    return factory


def _print_written(paths: list[Path]) -> None:
    """The headline table (per mode) and the files written."""
    from rich.table import Table

    from ragtune.console import console
    from services.evaluation import report

    rows = report.headline_rows(report.load_results(paths[0].parent)) if paths else []
    if rows:
        table = Table(
            "mode",
            "prompt tok/q",
            "completion tok/q",
            "$ / 1k q",
            "E2EL p50 ms",
            "hit@5",
            "term recall",
            "style",
            title="headline",
            title_justify="left",
        )
        for row in rows:
            table.add_row(
                row["mode"],
                report.fmt(row.get("prompt_tokens")),
                report.fmt(row.get("completion_tokens")),
                report.fmt(row.get("usd_per_1k"), 4),
                report.fmt(row.get("p50_e2el_ms"), 0),
                report.pct(row.get("hit@5")),
                report.pct(row.get("term_recall")),
                report.fmt(row.get("style_score"), 3),
            )
        console.print(table)
    for path in paths:
        console.print(f"[green]✓[/] {path}")


def register(app: typer.Typer) -> None:
    """Add ``bench`` and ``eval`` to the root CLI."""

    @app.command("bench")
    def bench_command(
        questions: Path = typer.Option(..., "--questions", help="Questions: a text file (one per line) or a QA JSONL."),
        modes: str = typer.Option("base,rag,ft,hybrid", help="Modes to measure, comma-separated."),
        concurrency: str = typer.Option("1,4,8", help="Concurrency levels, comma-separated."),
        out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder for results.json, report.md and the plots."),
        url: str = typer.Option(None, help="A running gateway; default: start `ragtune serve` for the run."),
        adapter: list[str] = typer.Option(
            None, help="Adapter(s) for ft/hybrid (repeatable); default: zaragoza-voice or the first one served."
        ),
        num_prompts: int = typer.Option(
            None, min=1, help="Requests per level (questions cycled); default: one per question."
        ),
        max_tokens: int = typer.Option(64, min=1, help="Output tokens per answer."),
        top_k: int = typer.Option(None, min=1, help="Chunks retrieved for rag/hybrid (default: the gateway's)."),
        engine_url: str = typer.Option(
            None,
            help="The engine's OpenAI URL for the gateway-overhead baseline (default: from /v1/health, admin key).",
        ),
        engine: bool = typer.Option(True, help="Also measure the engine alone (gateway overhead)."),
        mixed: bool = typer.Option(True, help="Also run base and adapter requests mixed."),
        style: bool = typer.Option(True, help="Also run rag+style (RAG with the brand-voice instruction)."),
        style_guide: Path = typer.Option(None, help="Style guide JSON (default: the sample brand voice)."),
        train_cost: float = typer.Option(
            None, min=0, help="Training cost in $ for the break-even (default: the adapter card's)."
        ),
        api_key: str = typer.Option(None, envvar="RAGTUNE_API_KEY", help="Bearer key for the gateway."),
        timeout: float = typer.Option(900.0, min=1, help="Seconds one request may take."),
    ) -> None:
        """Speed, tokens and cost per mode and adapter at several concurrency levels; break-even."""
        from ragtune.settings import get_settings
        from services.evaluation.runner import BenchOptions, run_bench

        options = BenchOptions(
            questions=questions,
            modes=_csv(modes),
            concurrency=_csv_ints(concurrency),
            out=out,
            url=url,
            adapter=adapter or [],
            num_prompts=num_prompts,
            max_tokens=max_tokens,
            top_k=top_k,
            engine_url=engine_url,
            engine=engine,
            mixed=mixed,
            with_style=style,
            style_guide=style_guide,
            train_cost_usd=train_cost,
            api_key=api_key,
            timeout_s=timeout,
        )
        _print_written(run_bench(options, get_settings(), _progress("bench")))

    @app.command("eval")
    def eval_command(
        qa: Path = typer.Option(..., "--qa", help="Labelled QA JSONL (see benchmarks/qa/sample_qa.jsonl)."),
        modes: str = typer.Option("base,rag,ft,hybrid", help="Modes to evaluate, comma-separated."),
        out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder for results.json, report.md and the plots."),
        url: str = typer.Option(None, help="A running gateway; default: start `ragtune serve` for the run."),
        adapter: str = typer.Option(None, help="Adapter for ft/hybrid (default: zaragoza-voice or the first)."),
        k: int = typer.Option(5, "--k", min=1, help="Chunks retrieved (hit@k is reported for k ≤ this)."),
        max_tokens: int = typer.Option(128, min=1, help="Output tokens per answer."),
        concurrency: int = typer.Option(2, min=1, help="Requests in flight."),
        limit: int = typer.Option(None, min=1, help="Only the first N items."),
        style: bool = typer.Option(True, help="Also evaluate rag+style (RAG with the brand-voice instruction)."),
        style_guide: Path = typer.Option(None, help="Style guide JSON (default: the sample brand voice)."),
        groundedness: bool = typer.Option(True, help="Score groundedness with the embedder."),
        train_cost: float = typer.Option(None, min=0, help="Training cost in $ for the break-even."),
        api_key: str = typer.Option(None, envvar="RAGTUNE_API_KEY", help="Bearer key for the gateway."),
        timeout: float = typer.Option(900.0, min=1, help="Seconds one request may take."),
    ) -> None:
        """Answer quality per mode on a labelled QA set: hit@k, MRR, term recall, citations, style."""
        from ragtune.settings import get_settings
        from services.evaluation.runner import EvalOptions, run_eval

        options = EvalOptions(
            qa=qa,
            modes=_csv(modes),
            out=out,
            url=url,
            adapter=[adapter] if adapter else [],
            top_k=k,
            max_tokens=max_tokens,
            concurrency=concurrency,
            limit=limit,
            with_style=style,
            style_guide=style_guide,
            groundedness=groundedness,
            train_cost_usd=train_cost,
            api_key=api_key,
            timeout_s=timeout,
        )
        _print_written(run_eval(options, get_settings(), _progress("eval")))
