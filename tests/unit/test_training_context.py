"""Context-aware training examples: the same prompt as the gateway's hybrid prompt, byte for byte;
the supporting chunk among distractors and cited; a share of refusals in the brand voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.settings import Settings
from services.gateway.adapters import AdapterRegistry
from services.gateway.pipeline import AnswerPipeline, AnswerQuery
from services.gateway.tenants import Tenant
from services.modes import Mode
from tests.fakes import FakeEngine, FakeIndex, WordCounter, hit
from training.context import (
    ContextOptions,
    build_context_examples,
    cite,
    context_messages,
    refusal,
    split_voice,
    without_entries,
)
from training.records import ChatExample, Message

pytestmark = pytest.mark.unit

QUESTION = "How long does a tiled roof last?"
ANSWER = "Hej! About 50 years with good care. Concrete tiles last 30-40 years.\n\nVarma hälsningar, Team Zaragoza"
TENANT = Tenant(
    name="local", namespace="default", adapters=("*",), rate_limit_per_minute=0, restricted=False, limit_key="local"
)


def chunks(support_at: int | None, n: int = 8):
    out = [hit(i + 1, f"Unrelated passage number {i} about gutters and paint.") for i in range(n)]
    if support_at is not None:
        out[support_at] = hit(99, "A tiled roof lasts about 50 years with good care; concrete tiles 30-40 years.")
        out[support_at] = out[support_at].model_copy(update={"section": QUESTION})
    return out


async def test_training_prompt_equals_the_gateway_hybrid_prompt_byte_for_byte(tmp_path: Path) -> None:
    retrieved = chunks(2, n=5)
    engine = FakeEngine(adapters=("voice",))
    pipeline = AnswerPipeline(
        settings=Settings(home=tmp_path),
        engine=engine,
        index=FakeIndex(retrieved),
        counter=WordCounter(),
        adapters=AdapterRegistry(engine, tmp_path / "adapters", confine_paths=False),
    )
    plan = await pipeline.plan(
        AnswerQuery(question=QUESTION, mode=Mode.HYBRID, namespace="default", top_k=5),
        TENANT,
        request_id="r",
        route="chat",
    )
    served = [(m.role, m.content) for m in plan.generation.messages]
    trained = [(m.role, m.content) for m in context_messages(QUESTION, plan.prompt.chunks)]
    assert trained == served
    example = ChatExample(
        id="e", messages=[Message(role="user", content=QUESTION), Message(role="assistant", content=ANSWER)]
    )
    built, _ = build_context_examples([example], lambda q, n: retrieved[:n], ContextOptions(refusal_share=0))
    assert [(m.role, m.content) for m in built[0].prompt_messages()] == served


def test_voice_is_split_and_kept() -> None:
    assert split_voice(ANSWER) == (
        "Hej!",
        "About 50 years with good care. Concrete tiles last 30-40 years.",
        "Varma hälsningar, Team Zaragoza",
    )
    assert cite(ANSWER, 3) == (
        "Hej! About 50 years with good care [3]. Concrete tiles last 30-40 years.\n\nVarma hälsningar, Team Zaragoza"
    )
    assert refusal(ANSWER, "I don't know.") == "Hej! I don't know.\n\nVarma hälsningar, Team Zaragoza"
    assert split_voice("Plain answer.") == ("", "Plain answer.", "")


def test_examples_cite_the_supporting_chunk_and_a_share_refuses() -> None:
    examples = [
        ChatExample(
            id=f"faq-{i:03}",
            messages=[Message(role="user", content=QUESTION), Message(role="assistant", content=ANSWER)],
        )
        for i in range(50)
    ]
    built, report = build_context_examples(examples, lambda q, n: chunks(1)[:n], ContextOptions(k=5, seed=1))
    assert report.examples == 50 and report.with_support + report.refusals == 50
    assert 5 <= report.refusals <= 15  # about 20 %
    for example in built:
        prompt = example.messages[1].content
        assert prompt.count("] Title ") == 5
        if "I don't know" in example.reply:
            assert "tiled roof lasts" not in prompt  # no supporting chunk shown
            assert example.reply.startswith("Hej!") and example.reply.endswith("Team Zaragoza")
        else:
            assert "[2]" in example.reply and "[2] Title 99" in prompt
    again, _ = build_context_examples(examples, lambda q, n: chunks(1)[:n], ContextOptions(k=5, seed=1))
    assert again == built


def test_support_ranked_below_k_takes_the_last_slot_and_missing_support_refuses() -> None:
    example = ChatExample(
        id="e", messages=[Message(role="user", content=QUESTION), Message(role="assistant", content=ANSWER)]
    )
    built, _ = build_context_examples([example], lambda q, n: chunks(6)[:n], ContextOptions(k=5, refusal_share=0))
    assert "[5] Title 99" in built[0].messages[1].content and "[5]" in built[0].reply
    built, report = build_context_examples([example], lambda q, n: chunks(None)[:n], ContextOptions(refusal_share=0))
    assert report.support_not_found == 1 and "I don't know" in built[0].reply


def test_held_out_faq_entries_never_train() -> None:
    examples = [
        ChatExample(id=i, messages=[Message(role="user", content="q"), Message(role="assistant", content="a")])
        for i in ("a-1", "a-2", "b-1")
    ]
    assert [e.id for e in without_entries(examples, {"a-2"})] == ["a-1", "b-1"]


@pytest.mark.parametrize(
    ("aware", "mode", "warns"),
    [
        (True, "ft", "trained with retrieved context"),
        (True, "hybrid", None),
        (False, "hybrid", "trained without retrieved context"),
        (False, "ft", None),
    ],
)
async def test_gateway_warns_when_adapter_and_mode_do_not_match(tmp_path: Path, caplog, aware, mode, warns) -> None:
    engine = FakeEngine(adapters=("voice",))
    registry = AdapterRegistry(engine, tmp_path / "adapters", confine_paths=False)
    registry.card = lambda name: {"hyperparameters": {"context_aware": aware}}  # type: ignore[method-assign]
    pipeline = AnswerPipeline(
        settings=Settings(home=tmp_path),
        engine=engine,
        index=FakeIndex(chunks(0, n=3)),
        counter=WordCounter(),
        adapters=registry,
    )
    for _ in range(2):
        await pipeline.plan(
            AnswerQuery(question=QUESTION, mode=Mode(mode), namespace="default"), TENANT, request_id="r", route="chat"
        )
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if warns is None:
        assert messages == []
    else:
        assert len(messages) == 1 and warns in messages[0]  # once, not per request
