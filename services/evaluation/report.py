"""results.json (every raw figure), report.md (tables) and PNG plots (matplotlib).

``bench`` and ``eval`` each write their own section of one results.json in the output folder and
then re-render report.md and the plots from the whole file, so running both into one folder gives
one report. Everything here reads plain dicts, so a report can be rebuilt from results.json alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragtune.errors import RagtuneError
from ragtune.files import atomic_write
from services.evaluation.style import STYLED_RAG
from services.modes import Mode

RESULTS = "results.json"
REPORT = "report.md"
PLOTS = {
    "latency_cdf": "latency_cdf.png",
    "throughput": "throughput_vs_concurrency.png",
    "cost": "cost_per_query.png",
    "break_even": "break_even.png",
    "quality": "quality_by_mode.png",
}


# --- results.json ----------------------------------------------------------------------------


def load_results(out_dir: Path) -> dict[str, Any]:
    """The results.json in ``out_dir``; an empty dict when there is none yet."""
    path = out_dir / RESULTS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RagtuneError(f"{path} is not valid JSON ({err.msg}); move it away or pick another --out") from None
    if not isinstance(data, dict):
        raise RagtuneError(f"{path} does not hold a results object; move it away or pick another --out")
    return data


def save_results(out_dir: Path, data: dict[str, Any]) -> Path:
    """Write results.json atomically (a crash never leaves half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    return atomic_write(out_dir / RESULTS, json.dumps(data, indent=1, default=str))


# --- formatting ------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10**-digits:
            return f"{value:.2e}"
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def mode_of(name: str) -> str:
    """The eval mode a bench variant belongs to: ``ft:voice`` → ``ft``."""
    return name.split(":", 1)[0]


# --- report.md -------------------------------------------------------------------------------


def headline_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per mode: tokens/query, $/1k queries, p50 latency (lowest concurrency), hit@5, answer-term
    recall, style score — the figures the README quotes."""
    levels = (data.get("bench") or {}).get("levels") or []
    quality = {m["mode"]: m for m in (data.get("eval") or {}).get("modes") or []}
    gateway = [level for level in levels if level["target"] == "gateway" and not level["name"].startswith("mixed:")]
    rows: dict[str, dict[str, Any]] = {}
    if gateway:
        low = min(level["concurrency"] for level in gateway)
        for level in (lv for lv in gateway if lv["concurrency"] == low):
            mode = mode_of(level["name"])
            rows[mode] = {
                "mode": mode,
                "variant": level["name"],
                "concurrency": low,
                "prompt_tokens": level["prompt_tokens_per_query"],
                "completion_tokens": level["completion_tokens_per_query"],
                "usd_per_1k": level["usd_per_1k_queries"],
                "p50_e2el_ms": level["median_e2el_ms"],
                "p50_ttft_ms": level["median_ttft_ms"],
            }
    for mode, figures in quality.items():
        row = rows.setdefault(
            mode,
            {
                "mode": mode,
                "prompt_tokens": figures.get("prompt_tokens_per_query"),
                "completion_tokens": figures.get("completion_tokens_per_query"),
                "usd_per_1k": None if figures.get("usd_per_query") is None else 1000 * figures["usd_per_query"],
            },
        )
        row.update(
            {
                "hit@5": figures.get("hit@5"),
                "term_recall": figures.get("answer_term_recall"),
                "style_score": figures.get("style_score"),
            }
        )
    order = [m.value for m in Mode.answer_modes()]
    order.insert(order.index(Mode.RAG) + 1, STYLED_RAG)
    return sorted(rows.values(), key=lambda r: (order.index(r["mode"]) if r["mode"] in order else 99, r["mode"]))


def _serving_section(bench: dict[str, Any]) -> list[str]:
    levels = bench.get("levels") or []
    rows = []
    for level in sorted(levels, key=lambda lv: (lv["concurrency"], lv["target"], lv["name"])):
        rows.append(
            [
                level["name"],
                str(level["concurrency"]),
                f"{level['completed']}/{level['completed'] + level['failed']}",
                fmt(level["request_throughput"], 2),
                fmt(level["output_throughput"]),
                fmt(level["median_ttft_ms"], 0),
                fmt(level["p90_ttft_ms"], 0),
                fmt(level["p99_ttft_ms"], 0),
                fmt(level["median_tpot_ms"], 1),
                fmt(level["median_e2el_ms"], 0),
                fmt(level["p90_e2el_ms"], 0),
                fmt(level["p99_e2el_ms"], 0),
            ]
        )
    out = [
        "## Serving speed (client side, streamed)",
        "",
        "Same metric names as vLLM's serving benchmark: request_throughput (req/s), output_throughput "
        "(output tok/s), TTFT (time to first token), TPOT (time per output token after the first), "
        "E2EL (end-to-end latency); all in ms. `engine-direct` = the same questions sent straight to the "
        "engine's OpenAI API (no retrieval, no gateway).",
        "",
        table(
            [
                "variant",
                "conc.",
                "ok",
                "req/s",
                "out tok/s",
                "TTFT p50",
                "TTFT p90",
                "TTFT p99",
                "TPOT p50",
                "E2EL p50",
                "E2EL p90",
                "E2EL p99",
            ],
            rows,
        ),
        "",
    ]
    rows = []
    for level in sorted(levels, key=lambda lv: (lv["concurrency"], lv["target"], lv["name"])):
        rows.append(
            [
                level["name"],
                str(level["concurrency"]),
                fmt(level["question_tokens_per_query"]),
                fmt(level["context_tokens_per_query"]),
                fmt(level["prompt_tokens_per_query"]),
                fmt(level["completion_tokens_per_query"]),
                fmt(level["usd_per_query"], 6),
                fmt(level["usd_per_1k_queries"], 4),
                fmt(level.get("server_retrieval_ms_median"), 1),
                "; ".join(level["errors"])[:120] or "–",
            ]
        )
    out += [
        "## Tokens and cost per query",
        "",
        "Tokens by kind as the gateway counts them (question and context with the generator's tokenizer; "
        "prompt = everything the engine read, chat template and instructions included). Cost as the gateway "
        "prices it: a configured $/1M tokens, or self-hosted = the request's engine time (time to first token "
        "as input, the rest as output) × the machine's $/hour. At concurrency > 1 requests share the machine, "
        "so self-hosted $ per query there is an upper bound; the break-even uses the lowest concurrency.",
        "",
        table(
            [
                "variant",
                "conc.",
                "question",
                "context",
                "prompt",
                "completion",
                "$ / query",
                "$ / 1k queries",
                "retrieval ms p50",
                "errors",
            ],
            rows,
        ),
        "",
    ]
    return out


def _overhead_sections(bench: dict[str, Any]) -> list[str]:
    out: list[str] = []
    gateway = bench.get("gateway_overhead") or []
    if gateway:
        rows = [
            [
                str(r["concurrency"]),
                fmt(r["gateway_output_throughput"]),
                fmt(r["engine_output_throughput"]),
                fmt(r["throughput_ratio"], 3),
                fmt(r["gateway_median_ttft_ms"], 1),
                fmt(r["engine_median_ttft_ms"], 1),
                fmt(r["added_median_ttft_ms"], 1),
                fmt(r["added_median_e2el_ms"], 1),
                f"{fmt(r['gateway_prompt_tokens_per_query'])} / {fmt(r['engine_prompt_tokens_per_query'])}",
            ]
            for r in gateway
        ]
        out += [
            "## Gateway overhead (base mode vs the engine alone)",
            "",
            table(
                [
                    "conc.",
                    "gateway out tok/s",
                    "engine out tok/s",
                    "ratio",
                    "gateway TTFT p50",
                    "engine TTFT p50",
                    "added TTFT p50 ms",
                    "added E2EL p50 ms",
                    "prompt tokens gw / engine",
                ],
                rows,
            ),
            "",
        ]
    adapters = bench.get("adapter_overhead") or []
    if adapters:
        rows = [
            [
                str(r["concurrency"]),
                r["name"],
                fmt(r["output_throughput"]),
                fmt(r["throughput_vs_base"], 2),
                fmt(r["median_ttft_ms"], 0),
                fmt(r["ttft_vs_base"], 2),
                fmt(r["median_tpot_ms"], 1),
                fmt(r["median_e2el_ms"], 0),
            ]
            for r in adapters
        ]
        out += [
            "## Adapter overhead (base vs one adapter vs base and adapters mixed)",
            "",
            table(["conc.", "variant", "out tok/s", "× base", "TTFT p50", "TTFT × base", "TPOT p50", "E2EL p50"], rows),
            "",
        ]
    return out


def _break_even_section(result: dict[str, Any]) -> list[str]:
    out = [
        "## Fine-tuning vs RAG: break-even",
        "",
        f"Training cost: **${fmt(result['train_cost_usd'], 4)}** ({result['train_source']}"
        + (f", {fmt(result['train_seconds'], 0)} s" if result.get("train_seconds") else "")
        + "). "
        f"Per-query costs measured at concurrency {result['concurrency']}.",
        "",
    ]
    if result.get("style_instruction_tokens") is not None:
        out.append(
            f"- The style instruction adds **{fmt(result['style_instruction_tokens'])} prompt tokens** "
            "per RAG query (rag+style − rag)."
        )
    if result.get("extra_prompt_tokens_per_query") is not None:
        out.append(
            f"- rag+style sends {fmt(result['extra_prompt_tokens_per_query'])} more prompt tokens per "
            "query than hybrid (same context, voice from the adapter)."
        )
    if result.get("token_model_queries") is not None:
        out.append(
            f"- Token model (extra prompt tokens × measured input price "
            f"${fmt(result['usd_per_input_token'], 9)}/token): the adapter pays for itself after "
            f"**{fmt(result['token_model_queries'], 0)} queries**."
        )
    rows = [
        [line["name"], fmt(line["fixed_usd"], 4), fmt(line["per_query_usd"], 6), fmt(1000 * line["per_query_usd"], 4)]
        for line in result["lines"]
    ]
    out += ["", table(["mode", "one-off $", "$ / query", "$ / 1k queries"], rows), ""]
    rows = []
    for b in result["break_evens"]:
        when = (
            "never (costs more per query)"
            if b["queries"] is None
            else "from the first query"
            if b["queries"] == 0
            else f"after {fmt(b['queries'], 0)} queries"
        )
        rows.append([b["candidate"], b["baseline"], fmt(b["saving_per_query_usd"], 6), when])
    if rows:
        out += [
            'Per-query costs as the gateway reported them (engine speed included); a "(modelled)" line is '
            "rag+style without the instruction's tokens plus the training cost:",
            "",
            table(["candidate", "vs", "saving $ / query", "cheaper in total"], rows),
            "",
        ]
    return out


def _quality_section(evaluation: dict[str, Any]) -> list[str]:
    config = evaluation.get("config") or {}
    out = [
        "## Answer quality by mode",
        "",
        f"QA set: {config.get('qa_file', '?')} — {config.get('answerable', '?')} answerable, "
        f"{config.get('unanswerable', '?')} unanswerable; top_k {config.get('top_k', '?')}, greedy, "
        f"max_tokens {config.get('max_tokens', '?')}, adapter {config.get('adapter') or '–'}.",
        "",
        "hit@k / MRR: a numbered context chunk contains the gold answer's text (doc_hit: comes from the gold "
        "document). Citation correctness: share of cited [n] chunks that contain the supporting text. "
        "Groundedness: share of answer sentences whose embedding has cosine ≥ 0.6 with a cited chunk "
        "(all context chunks when nothing is cited). Refusal: the answer says it does not know. "
        "Support in prompt: the supporting chunk reached the prompt at all. Loops: answers that repeat "
        "themselves (stopped by the gateway, or still repeating in the text), of the answered ones.",
        "",
    ]
    rows = []
    top_k = config.get("top_k", 5)
    for m in evaluation.get("modes") or []:
        loops = f"{m['looping_answers']} / {m['answered']}" if "looping_answers" in m else "–"
        rows.append(
            [
                m["mode"],
                pct(m.get("hit@1")),
                pct(m.get(f"hit@{top_k}")),
                fmt(m["mrr"], 2),
                pct(m.get(f"doc_hit@{top_k}")),
                pct(m.get("support_in_prompt")),
                pct(m["answer_term_recall"]),
                pct(m["citation_correctness"]),
                pct(m["answers_with_citations"]),
                pct(m["groundedness"]),
                pct(m["refusal_on_unanswerable"]),
                pct(m["false_refusal_on_answerable"]),
                fmt(m["style_score"], 3),
                loops,
                str(m["errors"]),
            ]
        )
    out += [
        table(
            [
                "mode",
                "hit@1",
                f"hit@{top_k}",
                "MRR",
                f"doc hit@{top_k}",
                "support in prompt",
                "term recall",
                "citation correct",
                "cites",
                "grounded",
                "refuses unanswerable",
                "refuses answerable",
                "style",
                "loops",
                "errors",
            ],
            rows,
        ),
        "",
    ]
    card = evaluation.get("adapter_card")
    if card:
        out += [
            f"Adapter `{card.get('name')}` card: style score {fmt(card.get('style_score_before'), 3)} (base) → "
            f"{fmt(card.get('style_score_after'), 3)} (adapter) on held-out training prompts; eval loss "
            f"{fmt(card.get('eval_loss_before'), 3)} → {fmt(card.get('eval_loss_after'), 3)}.",
            "",
        ]
    return out


def render_markdown(data: dict[str, Any], plots: list[str]) -> str:
    """The whole report.md."""
    out = ["# ragtune benchmark and evaluation report", ""]
    meta = data.get("meta") or {}
    if meta:
        out += [" · ".join(f"{k}: {v}" for k, v in meta.items()), ""]
    headline = headline_rows(data)
    if headline:
        rows = [
            [
                r["mode"],
                fmt(r.get("prompt_tokens")),
                fmt(r.get("completion_tokens")),
                fmt(r.get("usd_per_1k"), 4),
                fmt(r.get("p50_e2el_ms"), 0),
                pct(r.get("hit@5")),
                pct(r.get("term_recall")),
                fmt(r.get("style_score"), 3),
            ]
            for r in headline
        ]
        out += [
            "## Headline by mode",
            "",
            table(
                [
                    "mode",
                    "prompt tokens / query",
                    "completion tokens / query",
                    "$ / 1k queries",
                    "E2EL p50 ms (lowest conc.)",
                    "hit@5",
                    "answer-term recall",
                    "style score",
                ],
                rows,
            ),
            "",
        ]
    bench = data.get("bench")
    if bench:
        config = bench.get("config") or {}
        out += [
            f"Bench: {config.get('questions', '?')} questions, "
            f"{config.get('num_prompts', '?')} requests per level, "
            f"max_tokens {config.get('max_tokens', '?')}, concurrency {config.get('concurrency', '?')}, "
            f"gateway {config.get('url', '?')}, engine {config.get('engine_url') or '–'}.",
            "",
        ]
        out += _serving_section(bench) + _overhead_sections(bench)
    if data.get("break_even"):
        out += _break_even_section(data["break_even"])
    if data.get("eval"):
        out += _quality_section(data["eval"])
    if plots:
        out += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    return "\n".join(out)


# --- plots -----------------------------------------------------------------------------------


def _figure(width: float = 7.0, height: float = 4.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height), dpi=100)
    return plt, figure, axes


def _save(plt, figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_latency_cdf(bench: dict[str, Any], path: Path) -> bool:
    """CDF of end-to-end latency and TTFT per variant at the lowest concurrency."""
    raw = bench.get("raw") or []
    if not raw:
        return False
    low = min(level["concurrency"] for level in raw)
    import numpy as np

    plt, figure, axes = _figure(9.0, 4.0)
    figure.delaxes(axes)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for level in (lv for lv in raw if lv["concurrency"] == low):
        for key, ax in (("ttft_ms", left), ("e2el_ms", right)):
            values = np.sort([s[key] for s in level["samples"] if s["ok"] and s.get(key) is not None])
            if values.size:
                ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=level["name"])
    for ax, title in ((left, "time to first token"), (right, "end-to-end latency")):
        ax.set_xlabel("ms")
        ax.set_ylabel("share of requests")
        ax.set_title(f"{title} (concurrency {low})")
        ax.grid(alpha=0.3)
    right.legend(fontsize=7, loc="lower right")
    _save(plt, figure, path)
    return True


def plot_throughput(bench: dict[str, Any], path: Path) -> bool:
    """Output tokens/s against concurrency per variant (and the engine alone)."""
    levels = [lv for lv in bench.get("levels") or [] if not lv["name"].startswith("mixed:")]
    if not levels:
        return False
    plt, figure, axes = _figure()
    for name in sorted({lv["name"] for lv in levels}):
        points = sorted((lv["concurrency"], lv["output_throughput"]) for lv in levels if lv["name"] == name)
        axes.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            label=name,
            linestyle="--" if name == "engine-direct" else "-",
        )
    axes.set_xlabel("concurrent requests")
    axes.set_ylabel("output tokens / s")
    axes.set_title("throughput vs concurrency")
    axes.set_xticks(sorted({lv["concurrency"] for lv in levels}))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    _save(plt, figure, path)
    return True


def plot_cost(bench: dict[str, Any], path: Path) -> bool:
    """$ per 1,000 queries by variant at the lowest concurrency, split input / output."""
    levels = [
        lv
        for lv in bench.get("levels") or []
        if lv["target"] == "gateway" and not lv["name"].startswith("mixed:") and lv.get("usd_per_query") is not None
    ]
    if not levels:
        return False
    low = min(lv["concurrency"] for lv in levels)
    chosen = [lv for lv in levels if lv["concurrency"] == low]
    names = [lv["name"] for lv in chosen]
    inputs = [1000 * (lv["input_usd_per_query"] or 0) for lv in chosen]
    outputs = [1000 * (lv["output_usd_per_query"] or 0) for lv in chosen]
    plt, figure, axes = _figure()
    axes.bar(names, inputs, label="input (prompt)")
    axes.bar(names, outputs, bottom=inputs, label="output (completion)")
    axes.set_ylabel("$ per 1,000 queries")
    axes.set_title(f"cost per 1,000 queries by mode (concurrency {low})")
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3, axis="y")
    _save(plt, figure, path)
    return True


def plot_break_even(result: dict[str, Any], path: Path) -> bool:
    """Cumulative cost vs number of queries per mode, with the crossing points marked."""
    from services.evaluation import costs

    lines = [costs.CostLine.model_validate(line) for line in result.get("lines") or []]
    if not lines:
        return False
    curves = costs.curve_points(lines, result["horizon_queries"])
    plt, figure, axes = _figure()
    for line in lines:
        axes.plot(curves["queries"], curves[line.name], label=line.name)
    by_name = {line.name: line for line in lines}
    for b in result.get("break_evens") or []:
        if b["queries"]:
            y = by_name[b["candidate"]].cumulative(b["queries"])
            axes.plot([b["queries"]], [y], "ko")
            axes.annotate(
                f"{b['candidate']} = {b['baseline']}\n@ {b['queries']:,.0f}",
                (b["queries"], y),
                fontsize=7,
                textcoords="offset points",
                xytext=(5, -20),
            )
    if result.get("token_model_queries"):
        axes.axvline(
            result["token_model_queries"],
            color="grey",
            linestyle=":",
            label=f"token model: {result['token_model_queries']:,.0f} queries",
        )
    axes.set_xlabel("queries")
    axes.set_ylabel("cumulative cost ($)")
    axes.set_title("fine-tuning vs RAG: cumulative cost")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    _save(plt, figure, path)
    return True


def plot_quality(evaluation: dict[str, Any], path: Path) -> bool:
    """Grouped bars: the quality figures per mode."""
    modes = evaluation.get("modes") or []
    if not modes:
        return False
    keys = [
        ("hit@5", "hit@5"),
        ("answer_term_recall", "term recall"),
        ("citation_correctness", "citation correct"),
        ("groundedness", "grounded"),
        ("refusal_on_unanswerable", "refuses unanswerable"),
        ("style_score", "style score"),
    ]
    plt, figure, axes = _figure(8.0, 4.2)
    width = 0.8 / len(modes)
    for index, figures in enumerate(modes):
        xs = [k + index * width for k in range(len(keys))]
        axes.bar(xs, [figures.get(key) or 0.0 for key, _ in keys], width=width, label=figures["mode"])
    axes.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], [label for _, label in keys], fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("share / score")
    axes.set_title("answer quality by mode")
    axes.grid(alpha=0.3, axis="y")
    axes.legend(fontsize=7)
    _save(plt, figure, path)
    return True


def write_report(out_dir: Path, data: dict[str, Any]) -> list[Path]:
    """Render every plot the data allows and report.md into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    plotted: list[str] = []
    bench = data.get("bench") or {}
    jobs = [
        ("latency_cdf", lambda p: plot_latency_cdf(bench, p)),
        ("throughput", lambda p: plot_throughput(bench, p)),
        ("cost", lambda p: plot_cost(bench, p)),
        ("break_even", lambda p: plot_break_even(data.get("break_even") or {}, p)),
        ("quality", lambda p: plot_quality(data.get("eval") or {}, p)),
    ]
    for key, plot in jobs:
        path = out_dir / PLOTS[key]
        if plot(path):
            written.append(path)
            plotted.append(path.name)
    report = out_dir / REPORT
    report.write_text(render_markdown(data, plotted), encoding="utf-8")
    return [report, *written]
