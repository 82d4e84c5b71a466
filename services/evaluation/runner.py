"""What ``ragtune bench`` and ``ragtune eval`` do, as plain functions (the CLI only parses options).

Each run resolves the gateway (``--url`` or one started for the run), plans its requests, runs them,
stores its section of results.json (keeping the other command's section), recomputes the
break-even and re-renders report.md and the plots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragtune.console import console
from ragtune.errors import RagtuneError
from ragtune.settings import Settings
from services.evaluation import analysis, bench, costs, quality, report
from services.evaluation.datasets import load_qa, load_questions
from services.evaluation.gateway import GatewayInfo, discover, managed_gateway
from services.evaluation.style import load_style_guide, style_instruction, style_scorer
from services.modes import Mode


class CommonOptions(BaseModel):
    url: str | None = None
    """A running gateway; None starts one for the run."""
    out: Path
    api_key: str | None = None
    adapter: list[str] = Field(default_factory=list)
    modes: list[Mode] = Field(default_factory=lambda: list(Mode.answer_modes()))
    style_guide: Path | None = None
    with_style: bool = True
    """Also run ``rag+style`` (RAG with the brand-voice instruction)."""
    max_tokens: int = 64
    timeout_s: float = 900.0
    train_cost_usd: float | None = None
    """Override the adapter card's training cost for the break-even."""


class BenchOptions(CommonOptions):
    questions: Path
    concurrency: list[int] = Field(default_factory=lambda: [1, 4, 8])
    num_prompts: int | None = None
    top_k: int | None = None
    engine_url: str | None = None
    engine: bool = True
    """Also measure the engine alone (gateway overhead)."""
    mixed: bool = True


class EvalOptions(CommonOptions):
    qa: Path
    top_k: int = 5
    concurrency: int = 2
    limit: int | None = None
    groundedness: bool = True


def check_modes(modes: list[str]) -> list[Mode]:
    """The answer modes named, each once, in order; a RagtuneError for an unknown one or none."""
    if not modes:
        raise RagtuneError("give at least one mode")
    return list(dict.fromkeys(Mode.parse(m, answer_only=True) for m in modes))


@contextmanager
def gateway_for(options: CommonOptions, settings: Settings) -> Iterator[GatewayInfo]:
    """The gateway to drive: ``--url`` as given, or ``ragtune serve`` started for the run."""
    if options.url:
        yield discover(options.url.rstrip("/"), options.api_key)
        return
    console.print("starting `ragtune serve` for this run (no --url given) …")
    with managed_gateway(settings.runs_dir, settings.engine.start_timeout_s + 120) as url:
        console.print(f"gateway ready at {url}")
        yield discover(url, options.api_key)


def pick_adapters(options: CommonOptions, info: GatewayInfo, modes: list[Mode]) -> tuple[list[str], list[Mode]]:
    """(adapters to use, modes to run): adapter modes are dropped, with a note, without adapters."""
    unknown = [a for a in options.adapter if a not in info.adapters]
    if unknown:
        raise RagtuneError(
            f"the gateway does not serve adapter(s) {', '.join(unknown)}; it serves: "
            f"{', '.join(info.adapters) or 'none'}"
        )
    adapters = options.adapter or (["zaragoza-voice"] if "zaragoza-voice" in info.adapters else info.adapters[:1])
    if not adapters and any(m.uses_adapter for m in modes):
        skipped = " and ".join(m for m in modes if m.uses_adapter)
        console.print(f"[yellow]note:[/] the gateway serves no adapter; skipping the {skipped} modes")
        modes = [m for m in modes if not m.uses_adapter]
    if not modes:
        raise RagtuneError("nothing to run: the chosen modes all need an adapter and the gateway serves none")
    return adapters, modes


def _meta(info: GatewayInfo, settings: Settings) -> dict[str, Any]:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base model": info.base_model,
        "engine": (settings.engine.kind if info.engine_url is None else f"{settings.engine.kind} @ {info.engine_url}"),
        "$/hour (self-hosted)": settings.prices.usd_per_hour,
    }


def training_cost(
    options: CommonOptions, info: GatewayInfo, adapter: str | None, settings: Settings
) -> tuple[float, float | None, str] | None:
    """(cost $, seconds, where it came from) of training ``adapter``; None when unknown."""
    if options.train_cost_usd is not None:
        return options.train_cost_usd, None, "given with --train-cost"
    card = info.cards.get(adapter or "") or {}
    if not card and adapter:
        try:
            from training.adapter_folder import read_card

            card = read_card(settings.adapters_dir / adapter).model_dump(mode="json")
        except Exception:  # noqa: BLE001 - no local card: the break-even is skipped with a note
            card = {}
    seconds = card.get("train_seconds")
    if card.get("train_cost_usd") is not None:
        return float(card["train_cost_usd"]), seconds, f"adapter card of {adapter}"
    if seconds is not None:
        return (
            costs.training_cost_usd(float(seconds), settings.prices.train_usd_per_hour),
            seconds,
            f"adapter card of {adapter}: train_seconds × ${settings.prices.train_usd_per_hour}/h",
        )
    return None


def update_break_even(
    data: dict[str, Any], options: CommonOptions, info: GatewayInfo, adapter: str | None, settings: Settings
) -> None:
    levels = (data.get("bench") or {}).get("levels") or []
    cost = training_cost(options, info, adapter, settings)
    if not levels or cost is None:
        if levels and adapter:
            console.print(
                "[yellow]note:[/] no training cost known for the break-even (no adapter card); "
                "give one with --train-cost"
            )
        return
    result = analysis.break_even_analysis(
        levels, train_cost_usd=cost[0], train_seconds=cost[1], train_source=cost[2], adapter=adapter
    )
    if result is not None:
        data["break_even"] = result.model_dump(mode="json")


def finish(out: Path, data: dict[str, Any]) -> list[Path]:
    report.save_results(out, data)
    return [out / report.RESULTS, *report.write_report(out, data)]


def run_bench(options: BenchOptions, settings: Settings, progress_factory: Callable[[int], Any]) -> list[Path]:
    """``ragtune bench``: returns the files written."""
    questions = load_questions(options.questions)
    modes = check_modes(options.modes)
    data = report.load_results(options.out)
    guide = load_style_guide(options.style_guide) if options.with_style else None
    style = style_instruction(guide) if guide is not None else None
    with gateway_for(options, settings) as info:
        adapters, modes = pick_adapters(options, info, modes)
        engine_url = (options.engine_url or info.engine_url) if options.engine else None
        plan = bench.BenchPlan(
            url=info.url,
            questions=questions,
            variants=bench.build_variants(modes, adapters, style if Mode.RAG in modes else None),
            concurrency=sorted(set(options.concurrency)),
            num_prompts=options.num_prompts,
            max_tokens=options.max_tokens,
            top_k=options.top_k,
            repetition_penalty=settings.gateway.repetition_penalty,
            engine_url=engine_url,
            engine_model=info.base_model if engine_url else None,
            mixed_variant=bench.mixed_variant(adapters) if options.mixed and Mode.FT in modes else None,
            api_key=options.api_key,
            timeout_s=options.timeout_s,
        )
        with progress_factory(bench.count_steps(plan)) as update:
            levels = bench.run_bench_sync(plan, update)
        summaries = [level.summary() for level in levels]
        data["meta"] = _meta(info, settings)
        data["bench"] = {
            "config": {
                "questions": len(questions),
                "questions_file": str(options.questions),
                "num_prompts": plan.num_prompts or len(questions),
                "max_tokens": plan.max_tokens,
                "concurrency": plan.concurrency,
                "modes": modes,
                "adapters": adapters,
                "style_instruction": style,
                "url": info.url,
                "engine_url": engine_url,
            },
            "levels": summaries,
            "gateway_overhead": analysis.gateway_overhead(summaries),
            "adapter_overhead": analysis.adapter_overhead(summaries),
            "raw": [level.model_dump(mode="json") for level in levels],
        }
        update_break_even(data, options, info, adapters[0] if adapters else None, settings)
    return finish(options.out, data)


def _embedder(settings: Settings) -> quality.Embed | None:
    """Sentence embeddings for groundedness (the index's embedder); None with a note if missing."""
    from ragtune.models import ModelNotFoundError, resolve

    try:
        path = resolve(settings.models.embedder, settings.models_dir)
    except ModelNotFoundError as err:
        console.print(f"[yellow]note:[/] groundedness skipped: {err}")
        return None
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True, batch_size=64, show_progress_bar=False)


def run_eval(options: EvalOptions, settings: Settings, progress_factory: Callable[[int], Any]) -> list[Path]:
    """``ragtune eval``: returns the files written."""
    items = load_qa(options.qa)[: options.limit] if options.limit else load_qa(options.qa)
    modes = check_modes(options.modes)
    data = report.load_results(options.out)
    guide = load_style_guide(options.style_guide)
    style = style_instruction(guide) if options.with_style and Mode.RAG in modes else None
    embed = _embedder(settings) if options.groundedness else None
    with gateway_for(options, settings) as info:
        adapters, modes = pick_adapters(options, info, modes)
        adapter = adapters[0] if adapters else None
        plan = quality.EvalPlan(
            url=info.url,
            modes=modes,
            adapter=adapter,
            top_k=options.top_k,
            max_tokens=options.max_tokens,
            concurrency=options.concurrency,
            api_key=options.api_key,
            timeout_s=options.timeout_s,
            style=style,
        )
        runs = len(modes) + (1 if style else 0)
        with progress_factory(runs * len(items)) as update:
            outcome = quality.run_eval(plan, items, embed=embed, style_scorer=style_scorer(guide), progress=update)
        data.setdefault("meta", _meta(info, settings))
        data["eval"] = {
            "config": {
                "qa_file": str(options.qa),
                "items": len(items),
                "answerable": sum(i.answerable for i in items),
                "unanswerable": sum(not i.answerable for i in items),
                "modes": modes,
                "adapter": adapter,
                "top_k": options.top_k,
                "max_tokens": options.max_tokens,
                "style_guide": guide.name,
                "style_instruction": style,
                "url": info.url,
            },
            "adapter_card": info.cards.get(adapter or ""),
            **outcome,
        }
        update_break_even(data, options, info, adapter, settings)
    return finish(options.out, data)


def rerender(out: Path) -> list[Path]:
    """Rebuild report.md and the plots from an existing results.json."""
    data = report.load_results(out)
    if not data:
        raise RagtuneError(f"{out} holds no {report.RESULTS}; run `ragtune bench` or `ragtune eval` first")
    return report.write_report(out, data)
