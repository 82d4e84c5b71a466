"""``ragtune eval``: answer quality per mode on a labelled QA set, through the gateway.

Every item is asked in every mode (greedy). Retrieval metrics come from the chunks the gateway
numbered in its ``rag``/``hybrid`` prompt (``citations``, best first), i.e. retrieval as served,
after the gateway's relevance threshold. Answer metrics: expected-term recall, citation
correctness (a cited chunk contains the supporting text), groundedness (share of answer
sentences whose embedding is close to a cited chunk), refusal on unanswerable items, and the
brand-voice style score of the mode's answers. Loops: answers the gateway stopped because they
repeated themselves, or whose text still repeats itself (``services.gateway.loops``), per answered
(not refused) question. ``support_in_prompt``: share of answerable items whose supporting chunk
reached the prompt at all (the ceiling retrieval sets for the answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from services.evaluation import driver, metrics
from services.evaluation.datasets import QAItem
from services.evaluation.style import STYLED_RAG
from services.gateway.loops import find_loop
from services.modes import Mode

Embed = Callable[[list[str]], np.ndarray]
StyleScorer = Callable[[list[str]], dict[str, float | None]]
K_VALUES = (1, 3, 5)


class EvalPlan(BaseModel):
    url: str
    modes: list[Mode] = Field(min_length=1)
    adapter: str | None = None
    top_k: int = Field(5, ge=1)
    max_tokens: int = Field(128, ge=1)
    concurrency: int = Field(2, ge=1)
    api_key: str | None = None
    timeout_s: float = Field(900.0, gt=0)
    style: str | None = None
    """A style instruction for an extra ``rag+style`` mode (None: no such mode)."""


class ItemResult(BaseModel):
    """One QA item answered in one mode, with its per-item figures (raw, for results.json)."""

    item_id: str
    mode: str
    answerable: bool
    ok: bool
    error: str | None = None
    answer: str = ""
    refused_flag: bool = False
    refused: bool = False
    doc_relevance: list[bool] = Field(default_factory=list)
    """Per numbered chunk, best first: from the gold document."""
    section_relevance: list[bool] = Field(default_factory=list)
    """Per numbered chunk: contains the supporting text (or is the gold section)."""
    cited_markers: list[int] = Field(default_factory=list)
    cited_supporting: list[bool] = Field(default_factory=list)
    """Per cited marker: the chunk contains the supporting text."""
    term_recall: float | None = None
    groundedness: float | None = None
    loop_stopped: bool = False
    """The gateway stopped this answer because it repeated itself."""
    looping: bool = False
    """The answer loops: the gateway stopped it, or its text still repeats itself (a gateway that
    does not stop loops, e.g. a run from before loop detection)."""
    prompt_tokens: int = 0
    context_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    total_ms: float | None = None


def mode_label(mode: Mode | str, style: str | None) -> str:
    return STYLED_RAG if style and mode == Mode.RAG else Mode(mode).value


def request_body(item: QAItem, mode: Mode | str, plan: EvalPlan, style: str | None) -> dict[str, Any]:
    mode = Mode(mode)
    body: dict[str, Any] = {"question": item.question, "mode": mode, "max_tokens": plan.max_tokens, "temperature": 0.0}
    if mode.uses_retrieval:
        body["top_k"] = plan.top_k
    if mode.uses_adapter and plan.adapter:
        body["adapter"] = plan.adapter
    if style:
        body["style"] = style
    return body


def _chunk_is_gold_section(citation: dict[str, Any], item: QAItem) -> bool:
    if item.support and metrics.supports(citation.get("text") or "", item.support):
        return True
    section = citation.get("section")
    return bool(item.gold_section and section and metrics.normalize(section) == metrics.normalize(item.gold_section))


def score_item(
    item: QAItem, label: str, response: dict[str, Any] | None, error: str | None, embed: Embed | None
) -> ItemResult:
    """Every per-item figure of one answered (or failed) request."""
    result = ItemResult(item_id=item.id, mode=label, answerable=item.answerable, ok=response is not None, error=error)
    if response is None:
        return result
    answer = response.get("answer") or ""
    citations = sorted(response.get("citations") or [], key=lambda c: c.get("marker", 0))
    usage = response.get("usage") or {}
    result.answer = answer
    result.refused_flag = bool(response.get("refused"))
    result.refused = metrics.is_refusal(answer, result.refused_flag)
    result.loop_stopped = bool(response.get("loop_stopped"))
    result.looping = result.loop_stopped or find_loop(answer) is not None
    result.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    result.context_tokens = int(usage.get("context_tokens") or 0)
    result.completion_tokens = int(usage.get("completion_tokens") or 0)
    result.cost_usd = float((response.get("cost") or {}).get("usd") or 0.0)
    result.total_ms = (response.get("latency_ms") or {}).get("total")
    if item.answerable:
        result.term_recall = metrics.term_recall(answer, item.expected_terms)
        if item.gold_doc:
            result.doc_relevance = [
                metrics.matches_doc([c.get("doc_id"), c.get("source"), c.get("title")], item.gold_doc)
                for c in citations
            ]
        result.section_relevance = [_chunk_is_gold_section(c, item) for c in citations]
    by_marker = {c.get("marker"): c for c in citations}
    result.cited_markers = [m for m in metrics.cited_markers(answer) if m in by_marker]
    if item.answerable and item.support:
        result.cited_supporting = [
            metrics.supports(by_marker[m].get("text") or "", item.support) for m in result.cited_markers
        ]
    if embed is not None and citations and not result.refused_flag:
        cited = [by_marker[m].get("text") or "" for m in result.cited_markers]
        evidence = cited or [c.get("text") or "" for c in citations]
        result.groundedness = metrics.groundedness(answer, evidence, embed)
    return result


def aggregate(
    label: str, results: Sequence[ItemResult], style: dict[str, float | None] | None, top_k: int = 5
) -> dict[str, Any]:
    """The per-mode figures of the quality table (hit@k for k in 1, 3, 5 and ``top_k``, up to ``top_k``)."""
    good = [r for r in results if r.ok]
    answerable = [r for r in good if r.answerable]
    unanswerable = [r for r in good if not r.answerable]
    figures: dict[str, Any] = {"mode": label, "items": len(results), "errors": len(results) - len(good)}
    with_retrieval = [r for r in answerable if r.doc_relevance or r.section_relevance]
    mode = Mode.lookup(label.split("+")[0])
    retrieval = mode is not None and mode.uses_retrieval and bool(with_retrieval)
    for k in sorted({k for k in K_VALUES if k <= top_k} | {top_k}):
        figures[f"hit@{k}"] = (
            metrics.mean(metrics.hit_at_k(r.section_relevance, k) for r in answerable) if retrieval else None
        )
        figures[f"doc_hit@{k}"] = (
            metrics.mean(metrics.hit_at_k(r.doc_relevance, k) for r in answerable) if retrieval else None
        )
    figures["mrr"] = (
        metrics.mean(metrics.reciprocal_rank(r.section_relevance) for r in answerable) if retrieval else None
    )
    figures["doc_mrr"] = (
        metrics.mean(metrics.reciprocal_rank(r.doc_relevance) for r in answerable) if retrieval else None
    )
    figures["support_in_prompt"] = (
        metrics.mean(float(any(r.section_relevance)) for r in answerable) if retrieval else None
    )
    figures["answer_term_recall"] = metrics.mean(r.term_recall for r in answerable)
    cited = [ok for r in answerable for ok in r.cited_supporting]
    figures["citation_correctness"] = metrics.mean(float(ok) for ok in cited) if cited else None
    figures["answers_with_citations"] = (
        metrics.mean(float(bool(r.cited_markers)) for r in answerable) if retrieval else None
    )
    figures["groundedness"] = metrics.mean(r.groundedness for r in good)
    figures["refusal_on_unanswerable"] = metrics.mean(float(r.refused) for r in unanswerable)
    figures["false_refusal_on_answerable"] = metrics.mean(float(r.refused) for r in answerable)
    answered = [r for r in good if not r.refused_flag]
    figures["answered"] = len(answered)
    figures["looping_answers"] = sum(r.looping for r in answered)
    figures["loops_stopped"] = sum(r.loop_stopped for r in answered)
    figures["prompt_tokens_per_query"] = metrics.mean(r.prompt_tokens for r in good)
    figures["context_tokens_per_query"] = metrics.mean(r.context_tokens for r in good)
    figures["completion_tokens_per_query"] = metrics.mean(r.completion_tokens for r in good)
    figures["usd_per_query"] = metrics.mean(r.cost_usd for r in good)
    figures["median_total_ms"] = metrics.percentile([r.total_ms for r in good if r.total_ms is not None], 50)
    figures["style_score"] = (style or {}).get("score")
    figures["style_breakdown"] = style
    return figures


async def _ask_all(
    plan: EvalPlan, items: Sequence[QAItem], mode: str, style: str | None, on_done: Callable[[], None]
) -> list[tuple[dict[str, Any] | None, str | None]]:
    headers = driver.auth_headers(plan.api_key)
    semaphore = asyncio.Semaphore(plan.concurrency)
    async with driver.client(plan.concurrency, plan.timeout_s) as http:

        async def ask(item: QAItem) -> tuple[dict[str, Any] | None, str | None]:
            async with semaphore:
                outcome = await driver.post_gateway_chat(http, plan.url, request_body(item, mode, plan, style), headers)
            on_done()
            return outcome

        return list(await asyncio.gather(*(ask(item) for item in items)))


def run_eval(
    plan: EvalPlan,
    items: Sequence[QAItem],
    *,
    embed: Embed | None,
    style_scorer: StyleScorer | None,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Ask every item in every mode; returns ``{"modes": [per-mode figures], "items": [raw]}``."""
    runs: list[tuple[Mode, str | None]] = [(mode, None) for mode in plan.modes]
    if plan.style and Mode.RAG in plan.modes:
        runs.insert(plan.modes.index(Mode.RAG) + 1, (Mode.RAG, plan.style))
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(label, done)

    per_mode: list[dict[str, Any]] = []
    raw: list[ItemResult] = []
    for mode, style in runs:
        label = mode_label(mode, style)
        outcomes = asyncio.run(_ask_all(plan, items, mode, style, tick))
        results = [
            score_item(item, label, response, error, embed)
            for item, (response, error) in zip(items, outcomes, strict=True)
        ]
        answers = [r.answer for r in results if r.ok and r.answerable and not r.refused_flag]
        style_figures = style_scorer(answers) if style_scorer and answers else None
        per_mode.append(aggregate(label, results, style_figures, plan.top_k))
        raw.extend(results)
    return {"modes": per_mode, "items": [r.model_dump() for r in raw]}
