"""The gateway's answer flow with a fake engine and index: planning, refusal, citations, usage,
cost and compare deltas for every mode (no model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.settings import Settings
from services.gateway.adapters import AdapterRegistry
from services.gateway.errors import InputLimitError
from services.gateway.pipeline import AnswerPipeline, AnswerQuery
from services.gateway.schemas import ChatResponse
from services.gateway.tenants import Tenant
from services.modes import Mode
from tests.fakes import TOTAL_MS, TTFT_MS, FakeEngine, FakeIndex, WordCounter, hit, words

pytestmark = pytest.mark.unit

QUESTION = "How long does a tiled roof last?"
TENANT = Tenant(
    name="local", namespace="default", adapters=("*",), rate_limit_per_minute=0, restricted=False, limit_key="local"
)
RELEVANT = [hit(1, "A tiled roof lasts about fifty years."), hit(2, "Clean the gutters twice a year.", 0.5)]
IRRELEVANT = [hit(3, "Opening hours of the office.", 0.1)]


class Gateway:
    """A pipeline over fakes, with what it recorded."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        adapters: tuple[str, ...] = ("voice",),
        hits=RELEVANT,
        answers: dict[str, str] | None = None,
        prices: dict | None = None,
    ) -> None:
        self.settings = Settings(home=tmp_path, prices=prices or {})
        self.engine = FakeEngine(adapters=adapters, answers=answers)
        self.index = FakeIndex(hits)
        self.recorded: list[tuple[ChatResponse, str]] = []
        self.pipeline = AnswerPipeline(
            settings=self.settings,
            engine=self.engine,
            index=self.index,
            counter=WordCounter(),
            adapters=AdapterRegistry(self.engine, tmp_path / "adapters", confine_paths=False),
            record=lambda response, plan: self.recorded.append((response, plan.route)),
        )

    async def plan(self, mode: str, **options):
        query = AnswerQuery(question=QUESTION, mode=Mode(mode), namespace="default", **options)
        return await self.pipeline.plan(query, TENANT, request_id="req", route="chat")

    async def ask(self, mode: str, **options) -> ChatResponse:
        return await self.pipeline.answer(await self.plan(mode, **options))


@pytest.mark.parametrize(
    ("mode", "adapter", "retrieves"),
    [("base", None, False), ("rag", None, True), ("ft", "voice", False), ("hybrid", "voice", True)],
)
async def test_plan_of_every_mode(tmp_path: Path, mode: str, adapter: str | None, retrieves: bool) -> None:
    gateway = Gateway(tmp_path)
    plan = await gateway.plan(mode)
    assert (plan.mode, plan.requested_mode, plan.adapter, plan.refused) == (mode, mode, adapter, False)
    assert plan.generation.adapter == adapter
    assert len(gateway.index.searches) == (1 if retrieves else 0)
    assert plan.question_tokens == words(QUESTION)
    user = plan.generation.messages[-1].content
    if retrieves:
        assert plan.generation.messages[0].role == "system" and "[1] Title 1 — Section 1" in user
        assert plan.prompt.chunks == RELEVANT and plan.context_tokens == words(plan.prompt.context) > 0
    else:
        assert [m.content for m in plan.generation.messages] == [QUESTION]
        assert plan.context_tokens == 0 and plan.retrieval_ms == 0.0


@pytest.mark.parametrize(
    ("adapters", "hits", "chosen"),
    [(("voice",), RELEVANT, "hybrid"), ((), RELEVANT, "rag"), (("voice",), IRRELEVANT, "ft"), ((), IRRELEVANT, "base")],
)
async def test_auto_picks_documents_and_voice_by_what_is_there(tmp_path: Path, adapters, hits, chosen) -> None:
    gateway = Gateway(tmp_path, adapters=adapters, hits=hits)
    response = await gateway.ask("auto")
    assert (response.mode, response.requested_mode, response.refused) == (chosen, "auto", False)
    assert response.adapter == ("voice" if Mode(chosen).uses_adapter else None)
    assert len(gateway.index.searches) == 1


@pytest.mark.parametrize("mode", ["rag", "hybrid"])
async def test_retrieval_modes_refuse_without_relevant_chunks(tmp_path: Path, mode: str) -> None:
    gateway = Gateway(tmp_path, hits=IRRELEVANT)
    response = await gateway.ask(mode)
    assert response.refused and response.answer == gateway.settings.gateway.refusal_text
    assert response.finish_reason == "refused" and response.citations == []
    assert gateway.engine.requests == []  # the engine never ran
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.cost.usd) == (0, 0, 0.0)
    pieces = [item async for item in gateway.pipeline.stream(await gateway.plan(mode))]
    assert pieces[0] == gateway.settings.gateway.refusal_text and pieces[-1].refused


async def test_citations_list_every_chunk_shown_and_mark_the_cited_ones(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, answers={"fake-base": "About fifty years [1]."})
    response = await gateway.ask("rag")
    assert [(c.marker, c.doc_id, c.cited) for c in response.citations] == [(1, "doc-1", True), (2, "doc-2", False)]
    assert response.citations[0].dense_score == RELEVANT[0].dense_score
    assert (await gateway.ask("base")).citations == []


@pytest.mark.parametrize("mode", ["base", "rag", "ft", "hybrid"])
async def test_usage_latency_and_self_hosted_cost(tmp_path: Path, mode: str) -> None:
    gateway = Gateway(tmp_path)
    plan = await gateway.plan(mode)
    response = await gateway.pipeline.answer(plan)
    prompt = sum(words(m.content) for m in plan.generation.messages)
    completion = words(response.answer)
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        prompt,
        completion,
        prompt + completion,
    )
    assert (usage.question_tokens, usage.context_tokens) == (plan.question_tokens, plan.context_tokens)
    assert (response.latency_ms.ttft, response.latency_ms.generation) == (TTFT_MS, TOTAL_MS - TTFT_MS)
    assert response.cost.price_source == "self_hosted"
    assert response.cost.usd == pytest.approx(TOTAL_MS * gateway.settings.prices.usd_per_hour / 3_600_000)
    assert response.model == "fake-base" and response.finish_reason == "stop"


async def test_per_model_prices_go_by_adapter_then_base(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, prices={"per_model": {"voice": (1.0, 2.0), "fake-base": (3.0, 4.0)}})
    ft, base = await gateway.ask("ft"), await gateway.ask("base")
    assert ft.cost.price_source == "per_model:voice"
    assert ft.cost.usd == pytest.approx((ft.usage.prompt_tokens * 1.0 + ft.usage.completion_tokens * 2.0) / 1e6)
    assert base.cost.price_source == "per_model:fake-base"
    assert base.cost.usd == pytest.approx((base.usage.prompt_tokens * 3.0 + base.usage.completion_tokens * 4.0) / 1e6)


async def test_stream_yields_the_text_then_the_response_and_answers_are_recorded(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path)
    items = [item async for item in gateway.pipeline.stream(await gateway.plan("hybrid"))]
    *pieces, response = items
    assert "".join(pieces).strip() == response.answer == "answer from voice [1]"
    await asyncio.sleep(0)  # recording runs once the answer is on its way
    assert gateway.recorded == [(response, "chat")]


async def test_adapter_choices_are_checked(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path)
    with pytest.raises(RagtuneError, match="use mode 'ft'"):
        await gateway.plan("base", adapter="voice")
    with pytest.raises(RagtuneError, match="use mode 'hybrid'"):
        await gateway.plan("rag", adapter="voice")
    with pytest.raises(NotFoundError, match="not loaded"):
        await gateway.plan("ft", adapter="other")
    with pytest.raises(RagtuneError, match="needs an adapter"):
        await Gateway(tmp_path, adapters=()).plan("hybrid")
    with pytest.raises(InputLimitError):
        await gateway.plan("base", max_tokens=gateway.settings.gateway.max_tokens_limit + 1)


async def test_compare_runs_every_mode_over_one_retrieval_with_deltas_against_rag(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path)
    query = AnswerQuery(question=QUESTION, mode=Mode.RAG, namespace="default")
    result = await gateway.pipeline.compare(query, TENANT, None, request_id="cmp")
    assert [r.mode for r in result.results] == ["base", "rag", "ft", "hybrid"]
    assert [r.adapter for r in result.results] == [None, None, "voice", "voice"]
    assert len(gateway.index.searches) == 1 and result.baseline == "rag" and result.skipped == {}
    by_mode = {r.mode: r for r in result.results}
    rag = by_mode["rag"]
    assert result.deltas["rag"].model_dump() == {k: 0 for k in result.deltas["rag"].model_dump()}
    for mode, r in by_mode.items():
        delta = result.deltas[mode]
        assert delta.prompt_tokens == r.usage.prompt_tokens - rag.usage.prompt_tokens
        assert delta.context_tokens == r.usage.context_tokens - rag.usage.context_tokens
        assert delta.cost_usd == pytest.approx(r.cost.usd - rag.cost.usd)
    assert result.deltas["base"].context_tokens == -rag.usage.context_tokens < 0
    assert {r.id for r in result.results} == {f"cmp-{m}" for m in by_mode}


async def test_compare_without_an_adapter_skips_or_refuses_the_adapter_modes(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, adapters=())
    query = AnswerQuery(question=QUESTION, mode=Mode.RAG, namespace="default")
    result = await gateway.pipeline.compare(query, TENANT, None, request_id="cmp")
    assert [r.mode for r in result.results] == ["base", "rag"] and set(result.skipped) == {"ft", "hybrid"}
    with pytest.raises(RagtuneError, match="needs an adapter"):
        await gateway.pipeline.compare(query, TENANT, [Mode.BASE, Mode.FT], request_id="cmp")
    no_baseline = await gateway.pipeline.compare(query, TENANT, [Mode.BASE], request_id="cmp")
    assert no_baseline.baseline is None and no_baseline.deltas == {} and gateway.index.searches[1:] == []
