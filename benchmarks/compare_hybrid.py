"""Plain vs context-aware sample adapter on the sample QA set: one table and one plot.

Reads two ``ragtune eval`` output folders of ``benchmarks/run_sample_evaluation.py`` (one with the
plain ``zaragoza-voice`` adapter, one with the context-aware one; both trained with the evaluated
FAQ entries held out) and writes ``report.md`` and ``hybrid.png`` into ``--out``:

    .venv/bin/python benchmarks/compare_hybrid.py --plain OUT_PLAIN --context OUT_CONTEXT \
        --out benchmarks/results/hybrid
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TARGETS = (
    "Targets (issue 15), context-aware hybrid: style ≥ 0.8; term recall ≥ rag's and ≥ 35 %; citation "
    "correctness ≥ rag's; refusals on the 8 unanswerable ≥ rag's; loops ≤ 1 in 56."
)


def _modes(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    evaluation = data["eval"]
    return {m["mode"]: m for m in evaluation["modes"]}, evaluation


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def rows(plain: Path, context: Path) -> list[tuple[str, dict[str, Any]]]:
    """(label, mode figures) for every variant; modes without an adapter from whichever run has them
    (the context-aware run first: both runs serve the same base model and index)."""
    plain_modes, _ = _modes(plain)
    context_modes, _ = _modes(context)
    out = []
    for mode in ("base", "rag", "rag+style"):
        figures = context_modes.get(mode) or plain_modes.get(mode)
        if figures:
            out.append((mode, figures))
    out += [(f"{m} (plain adapter)", plain_modes[m]) for m in ("ft", "hybrid") if m in plain_modes]
    out += [(f"{m} (context-aware adapter)", context_modes[m]) for m in ("ft", "hybrid") if m in context_modes]
    return out


def _card_line(evaluation: dict[str, Any], label: str) -> str:
    card = evaluation.get("adapter_card") or {}
    hp = card.get("hyperparameters") or {}
    return (
        f"- {label}: {card.get('train_examples', '?')} train + {card.get('eval_examples', '?')} eval examples "
        "(the evaluated questions' FAQ entries left out), "
        f"{card.get('train_seconds', 0):.0f} s of training, eval loss {_num(card.get('eval_loss_before'))} → "
        f"{_num(card.get('eval_loss_after'))}, style score on held-out training prompts "
        f"{_num(card.get('style_score_before'))} → {_num(card.get('style_score_after'))}"
        + (
            f"; context-aware: k {hp.get('context_k')}, refusal share {hp.get('context_refusal_share')}, "
            f"{hp.get('context_refusals')} refusal examples"
            if hp.get("context_aware")
            else ""
        )
    )


def verdict(plain: Path, context: Path) -> list[str]:
    """One line per target: the context-aware hybrid's figure against it."""
    context_modes, _ = _modes(context)
    plain_modes, _ = _modes(plain)
    hybrid, rag = context_modes.get("hybrid"), context_modes.get("rag") or plain_modes.get("rag")
    if not hybrid or not rag:
        return []

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    recall, rag_recall = hybrid["answer_term_recall"], rag["answer_term_recall"]
    cites, rag_cites = hybrid["citation_correctness"], rag["citation_correctness"]
    loops = hybrid.get("looping_answers", 0)
    return [
        "Context-aware hybrid against the targets:",
        "",
        f"- style {_num(hybrid['style_score'])} (≥ 0.8): {mark(hybrid['style_score'] >= 0.8)}",
        f"- term recall {_pct(recall)} (rag {_pct(rag_recall)}; ≥ rag and ≥ 35 %): "
        f"{mark(recall >= rag_recall and recall >= 0.35)}",
        f"- citation correctness {_pct(cites)} (rag {_pct(rag_cites)}"
        + ("; rag cites nothing, so there is no rag figure to beat" if rag_cites is None else "")
        + f"): {mark(cites is not None and (rag_cites is None or cites >= rag_cites))}",
        f"- refusals on unanswerable {_pct(hybrid['refusal_on_unanswerable'])} (rag "
        f"{_pct(rag['refusal_on_unanswerable'])}): "
        f"{mark(hybrid['refusal_on_unanswerable'] >= rag['refusal_on_unanswerable'])}",
        f"- looping answers {loops} of {hybrid.get('answered')} answered (≤ 1 in 56): "
        f"{mark(loops * 56 <= hybrid.get('answered', 56))}",
        f"- not a target, the price: it refuses {_pct(hybrid['false_refusal_on_answerable'])} of the answerable "
        f"questions (rag {_pct(rag['false_refusal_on_answerable'])})",
    ]


def render(plain: Path, context: Path, note: str | None) -> str:
    """The report's Markdown."""
    _, plain_eval = _modes(plain)
    _, context_eval = _modes(context)
    config = plain_eval.get("config") or {}
    lines = [
        "# Hybrid with a plain vs a context-aware adapter (sample QA set)",
        "",
        *([note, ""] if note else []),
        f"QA set: `benchmarks/qa/sample_qa.jsonl`, {config.get('answerable')} answerable + "
        f"{config.get('unanswerable')} unanswerable; top_k {config.get('top_k')}, greedy, max_tokens "
        f"{config.get('max_tokens')}, loop stopping on. Both adapters were trained with the FAQ entries of the "
        "evaluated questions held out (`benchmarks/run_sample_evaluation.py`), so `ft`'s term recall is not "
        "memorised answers.",
        "",
        TARGETS,
        "",
        "Loops: answers that repeated themselves, which the gateway stopped at the repetition (none reaches the "
        "user looping), of the answered ones. Citation correct: share of cited `[n]` chunks that hold the "
        "supporting text (– when nothing is cited).",
        "",
        "| variant | term recall | citation correct | cites | grounded | refuses unanswerable | refuses answerable "
        "| style | loops | hit@5 | support in prompt |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, m in rows(plain, context):
        loops = f"{m['looping_answers']} / {m['answered']}" if "looping_answers" in m else "–"
        lines.append(
            f"| {label} | {_pct(m['answer_term_recall'])} | {_pct(m['citation_correctness'])} | "
            f"{_pct(m['answers_with_citations'])} | {_pct(m['groundedness'])} | {_pct(m['refusal_on_unanswerable'])} | "
            f"{_pct(m['false_refusal_on_answerable'])} | {_num(m['style_score'])} | {loops} | "
            f"{_pct(m.get('hit@5'))} | {_pct(m.get('support_in_prompt'))} |"
        )
    lines += ["", *verdict(plain, context), "", "Adapters:"]
    lines += [
        "",
        _card_line(plain_eval, "plain"),
        _card_line(context_eval, "context-aware"),
        "",
        "Per-run reports (every figure, per item answers in results.json): `plain/report.md`, `context/report.md`.",
        "",
        "![hybrid.png](hybrid.png)",
        "",
    ]
    return "\n".join(lines)


def plot(plain: Path, context: Path, path: Path) -> None:
    """Grouped bars: style, term recall, citation correctness, refusals on unanswerable, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = rows(plain, context)
    metrics = [
        ("style score", "style_score"),
        ("term recall", "answer_term_recall"),
        ("citation correct", "citation_correctness"),
        ("refuses unanswerable", "refusal_on_unanswerable"),
    ]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(variants)
    for i, (label, m) in enumerate(variants):
        values = [m.get(key) or 0.0 for _, key in metrics]
        ax.bar([j + i * width for j in range(len(metrics))], values, width, label=label)
    ax.set_xticks([j + width * (len(variants) - 1) / 2 for j in range(len(metrics))], [n for n, _ in metrics])
    ax.axhline(0.8, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.set_title("Sample QA set (56 questions): plain vs context-aware adapter")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", type=Path, required=True)
    parser.add_argument("--context", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--note", help="a line about the run conditions")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(render(args.plain, args.context, args.note), encoding="utf-8")
    plot(args.plain, args.context, args.out / "hybrid.png")
    print(args.out / "report.md")


if __name__ == "__main__":
    main()
