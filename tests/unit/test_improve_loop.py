"""The improvement loop without a model: the gateway serving NAME / NAME@VERSION and following a
promotion or rollback without a restart, kept exchanges (by choice) and corrections, from-feedback
on a seeded log (masked, right rows), the promotion check's decision and the audit log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ragtune.audit_log import AuditLog
from ragtune.errors import RagtuneError
from ragtune.settings import Settings, TenantSettings
from services.gateway.adapters import AdapterRegistry
from services.gateway.feedback import FeedbackStore
from services.gateway.pipeline import AnswerPipeline, AnswerQuery
from services.gateway.schemas import ChatResponse, Cost, FeedbackRequest, Latency, Usage
from services.gateway.tenants import Tenant
from services.improve import gate, loop
from services.improve.exchanges import ExchangeStore, keeps_exchanges
from services.improve.from_feedback import FEEDBACK_DB, from_feedback
from services.modes import Mode
from tests.fakes import FakeEngine, FakeIndex, WordCounter, hit
from tests.unit.test_training_versions import add, fake_adapter
from training import versions

pytestmark = pytest.mark.unit

LOCAL = Tenant(
    name="local", namespace="default", adapters=("*",), rate_limit_per_minute=0, restricted=False, limit_key="local"
)


# --- the gateway follows the promoted version ---------------------------------------------------
def pipeline(settings: Settings, engine: FakeEngine) -> AnswerPipeline:
    return AnswerPipeline(
        settings=settings,
        engine=engine,
        index=FakeIndex([hit(1, "A tiled roof lasts about fifty years.")]),
        counter=WordCounter(),
        adapters=AdapterRegistry(engine, settings.adapters_dir, confine_paths=False),
        record=lambda response, plan: None,
    )


async def served(gateway: AnswerPipeline, adapter: str | None) -> str | None:
    query = AnswerQuery(question="How long does a roof last?", mode=Mode.FT, namespace="default", adapter=adapter)
    plan = await gateway.plan(query, LOCAL, request_id="r", route="chat")
    return plan.generation.adapter


async def test_promotion_and_rollback_change_what_is_served_without_a_restart(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    adapter = fake_adapter(settings.adapters_dir / "voice", "voice")  # flat: from before versions
    gateway = pipeline(settings, FakeEngine())
    assert await served(gateway, "voice") == "voice"  # a flat adapter is served as before
    assert await served(gateway, None) == "voice"

    add(adapter, "v2", "v1")  # trained meanwhile: not promoted, but reachable by version
    assert await served(gateway, "voice") == "voice@v1"
    assert await served(gateway, "voice@v2") == "voice@v2"
    versions.promote(adapter, "v2")
    assert await served(gateway, "voice") == "voice@v2"
    assert await served(gateway, None) == "voice@v2"  # the default adapter follows too
    assert await served(gateway, "voice@1") == "voice@v1"
    versions.rollback(adapter)
    assert await served(gateway, "voice") == "voice@v1"
    with pytest.raises(RagtuneError, match="not loaded"):
        await served(gateway, "voice@v7")


async def test_a_version_is_allowed_when_its_adapter_is(tmp_path: Path) -> None:
    from services.gateway.errors import ForbiddenError

    settings = Settings(home=tmp_path)
    adapter = fake_adapter(settings.adapters_dir / "voice", "voice")
    add(adapter, "v2", "v1")
    gateway = pipeline(settings, FakeEngine())
    other = Tenant(
        name="t", namespace="default", adapters=("other",), rate_limit_per_minute=0, restricted=True, limit_key="t"
    )
    with pytest.raises(ForbiddenError):
        await gateway.check_adapter("voice@v2", other)


# --- kept exchanges and from-feedback ---------------------------------------------------------------
def response(request_id: str, answer: str) -> ChatResponse:
    return ChatResponse(
        id=request_id,
        mode="ft",
        adapter="voice",
        answer=answer,
        citations=[],
        usage=Usage(question_tokens=2, context_tokens=0, prompt_tokens=2, completion_tokens=4, total_tokens=6),
        latency_ms=Latency(retrieval=0, prompt=1, ttft=50, generation=100, total=160),
        cost=Cost(usd=1e-6, input_usd=4e-7, output_usd=6e-7, price_source="self_hosted"),
        requested_mode="ft",
        model="m",
    )


def seed(settings: Settings, rows: list[tuple[str, str, str, int | None, str | None]]) -> ExchangeStore:
    """(request id, question, answer, rating or None, correction) → the request log and kept exchanges."""
    feedback = FeedbackStore(settings.home / FEEDBACK_DB)
    store = ExchangeStore(feedback, settings)
    for request_id, question, answer, rating, correction in rows:
        feedback.log_request(response(request_id, answer), "local")
        assert store.keep(request_id, "local", question, answer, ["doc-1:0"], refused=False)
        if rating is not None:
            feedback.add_feedback(
                FeedbackRequest(request_id=request_id, rating=rating, resolved=rating == 1, correction=correction), None
            )
            if correction:
                assert store.add_correction(request_id, correction)
    return store


def test_exchanges_are_kept_only_by_choice(tmp_path: Path) -> None:
    off = Settings(home=tmp_path)
    assert not keeps_exchanges(off, "local")
    assert not ExchangeStore.open(tmp_path / FEEDBACK_DB, off).keep("r", "local", "q", "a", [], refused=False)
    keyed = Settings(
        home=tmp_path,
        gateway={"api_keys": {"k1": TenantSettings(name="acme", keep_exchanges=True), "k2": TenantSettings(name="b")}},
    )
    assert keeps_exchanges(keyed, "acme") and not keeps_exchanges(keyed, "b") and not keeps_exchanges(keyed, "local")


def test_unrated_exchanges_are_purged(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, gateway={"keep_exchanges": True, "unrated_exchange_hours": 1})
    store = seed(settings, [("r1", "q1", "a1", 1, None), ("r2", "q2", "a2", None, None)])
    assert store.purge_unrated(now=time.time() + 1800) == 0
    assert store.purge_unrated(now=time.time() + 7200) == 1  # r2 got no feedback within the hour
    assert [x.request_id for x in store.rated_since()] == ["r1"]
    assert not store.add_correction("r2", "better")


def test_from_feedback_writes_masked_training_data_of_the_right_rows(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, gateway={"keep_exchanges": True}, train={"eval_fraction": 0})
    seed(
        settings,
        [
            ("good", "Can I reach you at anna.berg@example.com?", "Hej! Yes, write to anna.berg@example.com.", 1, None),
            ("bad", "What does a roof cost?", "A roof is cheap.", -1, None),
            ("fixed", "Do I need a permit?", "No.", -1, "Hej! Yes, you need bygglov; call +46 70 123 45 67."),
            ("unrated", "Opening hours?", "9-17.", None, None),
        ],
    )
    out = tmp_path / "fb.jsonl"
    report = from_feedback(settings, out)
    assert (report.rated, report.good, report.corrected, report.skipped) == (3, 1, 1, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    text = out.read_text()
    assert len(rows) == 2 and all(r["split"] == "train" for r in rows)
    assert "anna.berg@example.com" not in text and "[EMAIL_1]" in text
    assert "123 45 67" not in text and "[PHONE_1]" in text
    assert "cheap" not in text and "9-17" not in text
    answers = [r["messages"][-1]["content"] for r in rows]
    assert any(a.startswith("Hej! Yes, you need bygglov") for a in answers)  # the correction, not "No."
    assert report.prep is not None and report.prep.pii_found == {"EMAIL": 2, "PHONE": 1}
    assert (tmp_path / "fb.report.json").is_file()
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(RagtuneError, match="no training data"):
        from_feedback(settings, out, later)


# --- the promotion check and the audit log ---------------------------------------------------------
def test_gate_compares_every_figure_and_states_the_margin() -> None:
    current = gate.Figures(ref="v@v1", style=0.6, term_recall=0.5, refusals=1.0)
    better = gate.Figures(ref="v@v2", style=0.7, term_recall=0.5, refusals=1.0)
    margins, reasons = gate.compare(better, current, 0.0)
    assert reasons == [] and margins == {"style": 0.1, "term_recall": 0.0, "refusals": 0.0}
    worse = gate.Figures(ref="v@v2", style=0.7, term_recall=0.4, refusals=0.5)
    margins, reasons = gate.compare(worse, current, 0.0)
    assert len(reasons) == 2 and "term_recall 0.400 < 0.500" in reasons[0] and margins["refusals"] == -0.5
    assert gate.compare(worse, current, 0.5)[1] == []  # within the tolerance


def test_forced_promotion_needs_a_reason_and_is_audited_like_rollback(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    adapter = fake_adapter(settings.adapters_dir / "voice", "voice")
    add(adapter, "v2", "v1")
    with pytest.raises(RagtuneError, match="--reason"):
        loop.promote(settings, "voice@v2", force=True)
    with pytest.raises(RagtuneError, match="name the version"):
        loop.promote(settings, "voice", force=True, reason="x")
    outcome = loop.promote(settings, "voice@v2", force=True, reason="legal asked for the new wording")
    assert outcome.promoted and outcome.forced and versions.read_versions(adapter).promoted == "v2"
    loop.rollback(settings, "voice", reason="complaints")
    assert versions.read_versions(adapter).promoted == "v1"
    entries = [json.loads(line) for line in AuditLog.in_home(settings.home).path.read_text().splitlines()]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("adapter.promote.forced", "voice@v2"),
        ("adapter.rollback", "voice"),
    ]
    assert entries[0]["detail"]["reason"] == "legal asked for the new wording"
