"""Precision and recall of the PII engine on the labelled set ``tests/data/pii/pii_set.jsonl``.

    python benchmarks/bench_pii.py [--set FILE] [--out benchmarks/results/pii.md]

A labelled entity is *found* when one detection of the same kind covers it completely (the whole
value is masked; for ADDRESS, which has no fixed extent, when a detection overlaps at least half of
it). A detection is a *true positive* when it overlaps a labelled entity of its kind; detections on
the hard negatives and anywhere else are false positives. Prints one table per kind, one per
language and the goals of issue 17, and writes them as Markdown (plus JSON beside it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragtune.pii import CHECKSUM_KINDS, PII_KINDS, PiiEngine  # noqa: E402 - after the sys.path insert

DEFAULT_SET = ROOT / "tests" / "data" / "pii" / "pii_set.jsonl"
GOALS = [
    ("checksum kinds (IBAN, cards, national IDs, VAT)", CHECKSUM_KINDS, "recall", 0.97),
    ("e-mail and phone", ("EMAIL", "PHONE"), "recall", 0.97),
    ("names with cues", ("PERSON",), "recall", 0.85),
    ("overall", tuple(PII_KINDS), "precision", 0.95),
]


def _covers(span, entity) -> bool:
    if entity["kind"] == "ADDRESS":
        overlap = min(span.end, entity["end"]) - max(span.start, entity["start"])
        return overlap >= (entity["end"] - entity["start"]) / 2
    return span.start <= entity["start"] and span.end >= entity["end"]


def evaluate(lines: list[dict], engine: PiiEngine) -> dict:
    """Counts per kind and per language, and every miss and false positive (for reading)."""
    tp: Counter[tuple[str, str]] = Counter()
    fp: Counter[tuple[str, str]] = Counter()
    fn: Counter[tuple[str, str]] = Counter()
    found: Counter[tuple[str, str]] = Counter()
    misses, false_positives = [], []
    started = time.perf_counter()
    for line in lines:
        spans = engine.find(line["text"])
        lang = line["lang"]
        for entity in line["entities"]:
            if any(s.kind == entity["kind"] and _covers(s, entity) for s in spans):
                found[(entity["kind"], lang)] += 1
            else:
                fn[(entity["kind"], lang)] += 1
                misses.append(
                    {
                        "id": line["id"],
                        "kind": entity["kind"],
                        "text": entity["text"],
                        "got": [(s.kind, line["text"][s.start : s.end]) for s in spans],
                    }
                )
        for span in spans:
            hit = any(
                e["kind"] == span.kind and span.start < e["end"] and e["start"] < span.end for e in line["entities"]
            )
            (tp if hit else fp)[(span.kind, lang)] += 1
            if not hit:
                false_positives.append(
                    {"id": line["id"], "kind": span.kind, "text": line["text"][span.start : span.end]}
                )
    seconds = time.perf_counter() - started
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "found": found,
        "misses": misses,
        "false_positives": false_positives,
        "seconds": seconds,
        "lines": len(lines),
        "chars": sum(len(x["text"]) for x in lines),
    }


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def summarise(result: dict, keys: list[str], index: int) -> list[dict]:
    rows = []
    for key in keys:
        found, fn, tp, fp = (
            sum(v for k, v in result[name].items() if k[index] == key) for name in ("found", "fn", "tp", "fp")
        )
        rows.append(
            {
                "key": key,
                "labelled": found + fn,
                "found": found,
                "detections": tp + fp,
                "false_positives": fp,
                "recall": _ratio(found, found + fn),
                "precision": _ratio(tp, tp + fp),
            }
        )
    return rows


def goal_rows(result: dict) -> list[dict]:
    rows = []
    for label, kinds, metric, target in GOALS:
        found = sum(v for k, v in result["found"].items() if k[0] in kinds)
        fn = sum(v for k, v in result["fn"].items() if k[0] in kinds)
        tp = sum(v for k, v in result["tp"].items() if k[0] in kinds)
        fp = sum(v for k, v in result["fp"].items() if k[0] in kinds)
        value = _ratio(found, found + fn) if metric == "recall" else _ratio(tp, tp + fp)
        rows.append(
            {
                "goal": label,
                "metric": metric,
                "target": target,
                "value": value,
                "met": value is not None and value >= target,
            }
        )
    return rows


def render(result: dict, set_path: Path) -> str:
    kinds = [
        k for k in PII_KINDS if any(key[0] == k for c in (result["found"], result["fn"], result["fp"]) for key in c)
    ]
    langs = sorted({key[1] for c in (result["found"], result["fn"], result["fp"], result["tp"]) for key in c})
    out = [
        f"# PII engine on `{set_path.relative_to(ROOT) if set_path.is_relative_to(ROOT) else set_path}`",
        "",
        (
            f"{result['lines']} lines, {sum(r['labelled'] for r in summarise(result, kinds, 0))} labelled entities; "
            f"{result['seconds'] * 1000 / max(result['lines'], 1):.2f} ms per line "
            f"({result['chars'] / max(result['seconds'], 1e-9) / 1000:.0f} k chars/s, one CPU core)."
        ),
        "",
        "## Goals (issue 17)",
        "",
        "| goal | metric | target | measured | met |",
        "|---|---|---|---|---|",
    ]
    for row in goal_rows(result):
        out.append(
            f"| {row['goal']} | {row['metric']} | {row['target']} | {_fmt(row['value'])} | "
            f"{'yes' if row['met'] else '**no**'} |"
        )
    for title, keys, index in (("By kind", kinds, 0), ("By language", langs, 1)):
        out += [
            "",
            f"## {title}",
            "",
            "| | labelled | found | recall | detections | false positives | precision |",
            "|---|---|---|---|---|---|---|",
        ]
        rows = summarise(result, keys, index)
        for row in rows:
            out.append(
                f"| {row['key']} | {row['labelled']} | {row['found']} | {_fmt(row['recall'])} | "
                f"{row['detections']} | {row['false_positives']} | {_fmt(row['precision'])} |"
            )
        found = sum(r["found"] for r in rows)
        labelled = sum(r["labelled"] for r in rows)
        detections = sum(r["detections"] for r in rows)
        fps = sum(r["false_positives"] for r in rows)
        out.append(
            f"| **all** | {labelled} | {found} | {_fmt(_ratio(found, labelled))} | {detections} | {fps} | "
            f"{_fmt(_ratio(detections - fps, detections))} |"
        )
    out += ["", "## Misses", ""] + [
        f"- `{m['id']}` {m['kind']} `{m['text']}` (detected: {m['got']})" for m in result["misses"]
    ] or ["none"]
    out += ["", "## False positives", ""] + [
        f"- `{f['id']}` {f['kind']} `{f['text']}`" for f in result["false_positives"]
    ] or ["none"]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pii.md")
    args = parser.parse_args()
    lines = [json.loads(x) for x in args.set.read_text(encoding="utf-8").splitlines() if x.strip()]
    engine = PiiEngine()
    engine.find("warm-up: call +46 70 123 45 67")
    result = evaluate(lines, engine)
    report = render(result, args.set.resolve())
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    kinds = [k for k in PII_KINDS]
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "goals": goal_rows(result),
                "by_kind": summarise(result, kinds, 0),
                "by_language": summarise(result, sorted({k[1] for k in result["found"] | result["fn"]}), 1),
                "lines": result["lines"],
                "seconds": result["seconds"],
            },
            indent=2,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
