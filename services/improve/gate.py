"""The promotion check: a version is promoted only when it does at least as well as the promoted one.

Both versions answer the configured QA set (``improve.qa_file``, the format of
``benchmarks/qa/sample_qa.jsonl``) through a gateway, by name (``NAME@vN``), greedy, in
``improve.mode``; the figures are ``services.evaluation.quality``'s (those of ``ragtune eval``):
the style score, the expected-term recall on answerable items, and the refusal rate on unanswerable
ones. The candidate passes when none of them is lower than the promoted version's by more than
``improve.tolerance``; the margins (candidate minus current) are reported either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragtune.errors import RagtuneError
from ragtune.settings import Settings
from services.evaluation import quality
from services.evaluation.datasets import load_qa
from services.evaluation.style import load_style_guide, style_scorer
from services.modes import Mode

CRITERIA = {
    "style": "style_score",
    "term_recall": "answer_term_recall",
    "refusals": "refusal_on_unanswerable",
}
"""Figure of the gate -> the key in ``quality.aggregate``'s figures (higher is better for each)."""


class Figures(BaseModel):
    """One version's figures on the QA set."""

    ref: str
    style: float | None = None
    term_recall: float | None = None
    refusals: float | None = None
    """Share of unanswerable items refused."""
    errors: int = 0


class GateReport(BaseModel):
    """The check of ``candidate`` against ``current``."""

    candidate: Figures
    current: Figures | None
    margins: dict[str, float | None] = Field(default_factory=dict)
    """Candidate minus current per figure (None when either lacks it)."""
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    """Why it failed (empty when it passed)."""
    qa_file: str
    items: int
    mode: str
    tolerance: float

    def as_record(self) -> dict[str, Any]:
        """What goes into the version's card and ``versions.json``."""
        return self.model_dump(mode="json")


def figures_of(ref: str, aggregate: dict[str, Any]) -> Figures:
    return Figures(
        ref=ref, errors=int(aggregate.get("errors") or 0), **{k: aggregate.get(v) for k, v in CRITERIA.items()}
    )


def compare(candidate: Figures, current: Figures | None, tolerance: float) -> tuple[dict[str, float | None], list[str]]:
    """(margins, reasons the candidate fails); a figure missing on both sides is not compared."""
    margins: dict[str, float | None] = {}
    reasons: list[str] = []
    if candidate.errors:
        reasons.append(f"{candidate.errors} QA item(s) failed for {candidate.ref}")
    if current is None:
        return margins, reasons
    for key in CRITERIA:
        new, old = getattr(candidate, key), getattr(current, key)
        if new is None or old is None:
            margins[key] = None
            if old is not None:
                reasons.append(f"{key}: {current.ref} has {old:.3f}, {candidate.ref} none")
            continue
        margins[key] = round(new - old, 4)
        if new < old - tolerance:
            reasons.append(f"{key} {new:.3f} < {old:.3f} of {current.ref} (margin {new - old:+.3f})")
    return margins, reasons


def qa_path(settings: Settings, qa: Path | None) -> Path:
    path = qa or settings.improve.qa_file
    if path is None:
        raise RagtuneError("no QA set to check the versions on: set improve.qa_file (RAGTUNE_IMPROVE__QA_FILE) or --qa")
    return Path(path)


def evaluate(
    url: str,
    refs: list[str],
    settings: Settings,
    *,
    qa: Path | None = None,
    api_key: str | None = None,
) -> tuple[list[Figures], int]:
    """The figures of each of ``refs`` (``NAME@vN``) on the QA set through the gateway at ``url``."""
    improve = settings.improve
    items = load_qa(qa_path(settings, qa))
    if improve.qa_limit:
        items = items[: improve.qa_limit]
    scorer = style_scorer(load_style_guide(improve.style_guide))
    out = []
    for ref in refs:
        plan = quality.EvalPlan(
            url=url,
            modes=[Mode(improve.mode)],
            adapter=ref,
            max_tokens=improve.max_tokens,
            concurrency=1,
            api_key=api_key,
            top_k=settings.index.top_k,
        )
        result = quality.run_eval(plan, items, embed=None, style_scorer=scorer)
        out.append(figures_of(ref, result["modes"][0]))
    return out, len(items)


def check(
    url: str,
    candidate: str,
    current: str | None,
    settings: Settings,
    *,
    qa: Path | None = None,
    api_key: str | None = None,
) -> GateReport:
    """Evaluate ``candidate`` (and ``current``, when there is one) and decide."""
    refs = [candidate] + ([current] if current else [])
    figures, items = evaluate(url, refs, settings, qa=qa, api_key=api_key)
    now = figures[1] if current else None
    margins, reasons = compare(figures[0], now, settings.improve.tolerance)
    return GateReport(
        candidate=figures[0],
        current=now,
        margins=margins,
        passed=not reasons,
        reasons=reasons,
        qa_file=str(qa_path(settings, qa)),
        items=items,
        mode=settings.improve.mode,
        tolerance=settings.improve.tolerance,
    )
