"""Loops before/after loop detection, replayed on the answers of a finished ``ragtune eval`` run.

Generation is greedy, so an answer the gateway stops at its loop is exactly the prefix of the answer
it would have run to the end. This replays the detector (``services.gateway.loops``) over the stored
answers of a run made without it and reports, per mode, the looping answers among the answered
(not refused) ones and the answer-term recall of the answerable items, before and after the cut:

    .venv/bin/python benchmarks/measure_loops.py benchmarks/results/sample/results.json \
        --qa benchmarks/qa/sample_qa.jsonl --out benchmarks/results/loops.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.evaluation import metrics  # noqa: E402
from services.evaluation.datasets import load_qa  # noqa: E402
from services.gateway.loops import cut_loop, find_loop  # noqa: E402


def measure(results: Path, qa: Path) -> list[dict]:
    """Per mode: answered, looping before/after and term recall before/after."""
    items = {item.id: item for item in load_qa(qa)}
    rows: dict[str, dict] = defaultdict(
        lambda: {"answered": 0, "loops_before": 0, "loops_after": 0, "recall_before": [], "recall_after": []}
    )
    for result in json.loads(results.read_text(encoding="utf-8"))["eval"]["items"]:
        if not result["ok"] or result.get("refused_flag"):
            continue
        row = rows[result["mode"]]
        answer = result["answer"]
        cut, loop = cut_loop(answer)
        row["answered"] += 1
        row["loops_before"] += loop is not None
        row["loops_after"] += find_loop(cut) is not None
        item = items[result["item_id"]]
        if item.answerable and item.expected_terms:
            row["recall_before"].append(metrics.term_recall(answer, item.expected_terms))
            row["recall_after"].append(metrics.term_recall(cut, item.expected_terms))
    return [
        {"mode": mode, **{k: (metrics.mean(v) if isinstance(v, list) else v) for k, v in row.items()}}
        for mode, row in rows.items()
    ]


def render(rows: list[dict], source: str) -> str:
    out = [
        "# Looping answers before/after loop detection",
        "",
        f"Replayed on `{source}` (greedy answers generated without the detector; an answer stopped "
        "at its loop is the prefix the detector keeps). Loops among answered (not refused) questions.",
        "",
        "| mode | answered | looping before | looping after | term recall before | term recall after |",
        "|---|---|---|---|---|---|",
    ]
    total = [0, 0, 0]
    for r in rows:
        out.append(
            f"| {r['mode']} | {r['answered']} | {r['loops_before']} | {r['loops_after']} | "
            f"{r['recall_before']:.1%} | {r['recall_after']:.1%} |"
        )
        total = [total[0] + r["answered"], total[1] + r["loops_before"], total[2] + r["loops_after"]]
    out.append(f"| all | {total[0]} | {total[1]} | {total[2]} | | |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--qa", type=Path, default=REPO / "benchmarks" / "qa" / "sample_qa.jsonl")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = render(measure(args.results, args.qa), args.results.as_posix().removeprefix(str(REPO) + "/"))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
