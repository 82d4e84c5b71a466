"""``ragtune bench``: serving speed and cost per mode/adapter, gateway and adapter overhead.

The plan is a list of variants (a mode, an adapter, an optional style instruction, or a mix of
them), each run over the same questions at every concurrency level, plus the engine alone (the
gateway-overhead baseline) and base/adapter mixes (the adapter overhead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from services.evaluation import driver
from services.evaluation.style import STYLED_RAG
from services.modes import Mode


class RequestSpec(BaseModel):
    """How one request asks: mode, adapter, optional rag style instruction."""

    mode: Mode
    adapter: str | None = None
    style: str | None = None


class Variant(BaseModel):
    """A named group of requests; a variant with several specs cycles through them (a mix)."""

    label: str
    specs: list[RequestSpec] = Field(min_length=1)

    @property
    def mode(self) -> str:
        return self.specs[0].mode if len(self.specs) == 1 else "mixed"

    @property
    def adapter(self) -> str | None:
        return self.specs[0].adapter if len(self.specs) == 1 else ",".join(s.adapter or "base" for s in self.specs)


class BenchPlan(BaseModel):
    """Everything one ``ragtune bench`` run does."""

    url: str
    questions: list[str] = Field(min_length=1)
    variants: list[Variant] = Field(min_length=1)
    concurrency: list[int] = Field(min_length=1)
    num_prompts: int | None = Field(None, ge=1)
    """Requests per level (questions are cycled); default: one per question."""
    max_tokens: int = Field(64, ge=1)
    repetition_penalty: float = Field(1.0, ge=1.0, le=2.0)
    """Sent explicitly with every request, gateway and engine-direct alike (same decoding)."""
    top_k: int | None = Field(None, ge=1)
    engine_url: str | None = None
    """Run the same questions straight against this OpenAI-compatible engine too."""
    engine_model: str | None = None
    mixed_variant: Variant | None = None
    """Base and adapters mixed: run at the highest concurrency only."""
    api_key: str | None = None
    timeout_s: float = Field(900.0, gt=0)
    warmup: bool = True


def build_variants(modes: list[Mode] | list[str], adapters: list[str], style: str | None) -> list[Variant]:
    """One variant per mode (per adapter for the adapter modes); ``rag+style`` when a style is given."""
    variants: list[Variant] = []
    for mode in map(Mode, modes):
        if mode.uses_adapter:
            for adapter in adapters:
                variants.append(Variant(label=f"{mode}:{adapter}", specs=[RequestSpec(mode=mode, adapter=adapter)]))
            continue
        variants.append(Variant(label=mode, specs=[RequestSpec(mode=mode)]))
        if mode == Mode.RAG and style:
            variants.append(Variant(label=STYLED_RAG, specs=[RequestSpec(mode=Mode.RAG, style=style)]))
    return variants


def mixed_variant(adapters: list[str]) -> Variant | None:
    """Base requests and every adapter's ft requests interleaved; None without adapters."""
    if not adapters:
        return None
    specs = [RequestSpec(mode=Mode.BASE)] + [RequestSpec(mode=Mode.FT, adapter=a) for a in adapters]
    label = "mixed:base+" + "+".join(adapters)
    return Variant(label=label, specs=specs)


def request_body(spec: RequestSpec, question: str, plan: BenchPlan) -> dict[str, Any]:
    """The /v1/chat body for one request (greedy, fixed max_tokens)."""
    body: dict[str, Any] = {
        "question": question,
        "mode": spec.mode,
        "max_tokens": plan.max_tokens,
        "temperature": 0.0,
        "repetition_penalty": plan.repetition_penalty,
    }
    if spec.adapter:
        body["adapter"] = spec.adapter
    if spec.style:
        body["style"] = spec.style
    if plan.top_k and spec.mode.uses_retrieval:
        body["top_k"] = plan.top_k
    return body


def _prompts(plan: BenchPlan) -> list[str]:
    count = plan.num_prompts or len(plan.questions)
    return [plan.questions[i % len(plan.questions)] for i in range(count)]


async def _gateway_level(plan: BenchPlan, variant: Variant, concurrency: int) -> driver.LevelResult:
    headers = driver.auth_headers(plan.api_key)
    prompts = _prompts(plan)
    async with driver.client(concurrency, plan.timeout_s) as http:

        def job(index: int, question: str) -> Callable[[], Any]:
            spec = variant.specs[index % len(variant.specs)]
            return lambda: driver.stream_gateway_chat(http, plan.url, request_body(spec, question, plan), headers)

        samples, duration = await driver.run_level([job(i, q) for i, q in enumerate(prompts)], concurrency)
    return driver.LevelResult(
        name=variant.label,
        target="gateway",
        mode=variant.mode,
        adapter=variant.adapter,
        concurrency=concurrency,
        duration_s=duration,
        samples=samples,
    )


async def _engine_level(plan: BenchPlan, concurrency: int) -> driver.LevelResult:
    assert plan.engine_url and plan.engine_model
    prompts = _prompts(plan)
    async with driver.client(concurrency, plan.timeout_s) as http:

        def job(question: str) -> Callable[[], Any]:
            return lambda: driver.stream_engine_chat(
                http, plan.engine_url, plan.engine_model, question, plan.max_tokens, plan.repetition_penalty
            )

        samples, duration = await driver.run_level([job(q) for q in prompts], concurrency)
    return driver.LevelResult(
        name="engine-direct",
        target="engine",
        mode="base",
        adapter=None,
        concurrency=concurrency,
        duration_s=duration,
        samples=samples,
    )


async def _warm_up(plan: BenchPlan, variants: list[Variant]) -> None:
    """One request per variant (and the engine) so first-request effects stay out of the figures."""
    headers = driver.auth_headers(plan.api_key)
    async with driver.client(1, plan.timeout_s) as http:
        for variant in variants:
            for spec in variant.specs:
                await driver.stream_gateway_chat(http, plan.url, request_body(spec, plan.questions[0], plan), headers)
        if plan.engine_url and plan.engine_model:
            await driver.stream_engine_chat(
                http, plan.engine_url, plan.engine_model, plan.questions[0], plan.max_tokens, plan.repetition_penalty
            )


async def run_bench(plan: BenchPlan, progress: Callable[[str, float], None] | None = None) -> list[driver.LevelResult]:
    """Run every level of ``plan``; ``progress(step, done)`` counts finished levels."""
    steps: list[tuple[str, Callable[[], Any]]] = []
    for concurrency in plan.concurrency:
        for variant in plan.variants:
            steps.append(
                (f"{variant.label} ×{concurrency}", lambda v=variant, c=concurrency: _gateway_level(plan, v, c))
            )
        if plan.engine_url and plan.engine_model:
            steps.append((f"engine-direct ×{concurrency}", lambda c=concurrency: _engine_level(plan, c)))
    if plan.mixed_variant is not None:
        top = max(plan.concurrency)
        steps.append((f"{plan.mixed_variant.label} ×{top}", lambda: _gateway_level(plan, plan.mixed_variant, top)))
    if plan.warmup:
        if progress:
            progress("warm-up", 0)
        await _warm_up(plan, plan.variants)
    results: list[driver.LevelResult] = []
    for done, (name, step) in enumerate(steps):
        if progress:
            progress(name, done)
        results.append(await step())
    if progress:
        progress("done", len(steps))
    return results


def count_steps(plan: BenchPlan) -> int:
    """How many levels :func:`run_bench` will run (for a progress bar)."""
    per_level = len(plan.variants) + (1 if plan.engine_url and plan.engine_model else 0)
    return per_level * len(plan.concurrency) + (1 if plan.mixed_variant is not None else 0)


def run_bench_sync(plan: BenchPlan, progress: Callable[[str, float], None] | None = None) -> list[driver.LevelResult]:
    return asyncio.run(run_bench(plan, progress))
