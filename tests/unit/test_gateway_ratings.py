"""Blind rating tasks over HTTP with a fake engine: blindness, judgements, roles, tenants, win rates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragtune.settings import Settings
from services.gateway.adapters import AdapterRegistry
from services.gateway.errors import install_error_handlers
from services.gateway.feedback import FeedbackStore
from services.gateway.metrics import GatewayMetrics
from services.gateway.middleware import GatewayMiddleware
from services.gateway.pipeline import AnswerPipeline
from services.gateway.ratings import RatingStore
from services.gateway.routes import feedback, ratings
from services.gateway.state import GatewayState
from tests.fakes import FakeEngine, FakeIndex, WordCounter, hit

pytestmark = pytest.mark.unit
QUESTION = "How long does a tiled roof last?"
ANSWERS = {"fake-base": "About fifty years.", "voice": "Hej! About fifty years, warm regards."}
MODE_WORDS = re.compile(r"\b(base|rag|ft|hybrid|auto|voice|fake-base)\b")
KEYS = {
    "rater-key": {"name": "acme", "roles": ["rate"]},
    "chat-key": {"name": "acme-chat"},
    "other-rater": {"name": "globex", "roles": ["rate"]},
    "admin-key": {"name": "ops", "roles": ["admin"]},
}


def make_client(tmp_path: Path, api_keys: dict | None = None) -> TestClient:
    settings = Settings.model_validate({"home": tmp_path, "gateway": {"api_keys": api_keys or {}}})
    engine = FakeEngine(adapters=("voice",), answers=ANSWERS)
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    state = GatewayState(
        settings=settings,
        engine=engine,
        counter=WordCounter(),
        adapters=AdapterRegistry(engine, tmp_path / "adapters", confine_paths=False, shared=["*"]),
        feedback=store,
        metrics=GatewayMetrics(),
        index=FakeIndex([hit(1, "A tiled roof lasts about fifty years.")]),  # type: ignore[arg-type]
    )
    state.ratings = RatingStore(store)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(ratings.router)
    app.include_router(feedback.router)
    app.add_middleware(GatewayMiddleware, max_body_bytes=1_000_000)
    app.state.gateway = state
    app.state.pipeline = AnswerPipeline.from_state(state)
    return TestClient(app)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_task(client: TestClient, headers: dict | None = None, **extra) -> dict:
    body = {"question": QUESTION, "contestants": [{"mode": "base"}, {"mode": "ft", "adapter": "voice"}], **extra}
    response = client.post("/v1/ratings/tasks", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_task_is_blind_until_judged(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    orders = set()
    for _ in range(12):
        task = new_task(client)
        raw = json.dumps(task)
        assert set(task) == {"task_id", "question", "answers"}
        assert all(set(a) == {"id", "text"} for a in task["answers"])
        assert all(re.fullmatch(r"[0-9a-f]{16}", a["id"]) for a in task["answers"])
        assert not MODE_WORDS.search(raw.replace(ANSWERS["fake-base"], "").replace(ANSWERS["voice"], ""))
        assert sorted(a["text"] for a in task["answers"]) == sorted(ANSWERS.values())
        orders.add(task["answers"][0]["text"])
    assert len(orders) == 2, "the answers are shown in a random order"

    queued = client.get("/v1/ratings/tasks/next").json()
    assert queued["pending"] == 12
    first = queued["task"]
    assert set(first) == {"task_id", "question", "answers"}
    assert client.get(f"/v1/ratings/tasks/{first['task_id']}").json() == first

    voice = next(a["id"] for a in first["answers"] if a["text"] == ANSWERS["voice"])
    judged = client.post(f"/v1/ratings/tasks/{first['task_id']}/judgement", json={"choice": voice, "reason": "warmer"})
    assert judged.status_code == 201, judged.text
    revealed = {a["id"]: (a["mode"], a["adapter"], a["chosen"]) for a in judged.json()["answers"]}
    assert revealed[voice] == ("ft", "voice", True)
    assert sorted(revealed.values()) == [("base", None, False), ("ft", "voice", True)]
    assert client.get("/v1/ratings/tasks/next").json()["pending"] == 11

    again = client.post(f"/v1/ratings/tasks/{first['task_id']}/judgement", json={"choice": "tie"})
    assert again.status_code == 409
    pending = client.get("/v1/ratings/tasks/next").json()["task"]["task_id"]
    wrong = client.post(f"/v1/ratings/tasks/{pending}/judgement", json={"choice": "0" * 16})
    assert wrong.status_code == 400 and "answer ids or 'tie'" in wrong.json()["error"]["message"]
    assert client.post("/v1/ratings/tasks/task_0000000000000000/judgement", json={"choice": "tie"}).status_code == 404
    assert client.get("/v1/ratings/tasks/not-a-task").status_code == 422


def test_judgements_become_win_rates_and_are_stored(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    for i in range(10):
        task = new_task(client)
        voice = next(a["id"] for a in task["answers"] if a["text"] == ANSWERS["voice"])
        base = next(a["id"] for a in task["answers"] if a["text"] == ANSWERS["fake-base"])
        choice = voice if i < 7 else (base if i < 9 else "tie")
        assert client.post(f"/v1/ratings/tasks/{task['task_id']}/judgement", json={"choice": choice}).status_code == 201
    summary = client.get("/v1/ratings/summary", params={"bootstrap": 100}).json()
    rows = {r["contestant"]: r for r in summary["contestants"]}
    assert (summary["judgements"], summary["tasks"], summary["by"]) == (10, 10, "contestant")
    assert (rows["ft:voice"]["wins"], rows["ft:voice"]["losses"], rows["ft:voice"]["ties"]) == (7, 2, 1)
    assert rows["ft:voice"]["win_rate"] == 0.75
    assert rows["ft:voice"]["ci_low"] <= rows["ft:voice"]["expected_win_rate"] <= rows["ft:voice"]["ci_high"]
    assert summary["contestants"][0]["contestant"] == "ft:voice"
    by_adapter = client.get("/v1/ratings/summary", params={"by": "adapter", "bootstrap": 0}).json()
    assert {r["contestant"] for r in by_adapter["contestants"]} == {"voice", "(no adapter)"}
    # the stored outcomes, read back from the database as the CLI does
    stored = FeedbackStore(tmp_path / "feedback.sqlite")
    judgements = RatingStore(stored).judgements()
    assert len(judgements) == 10 and sum(j.winner == "ft:voice" for j in judgements) == 7
    stored.close()


def test_roles_and_tenants(tmp_path: Path) -> None:
    client = make_client(tmp_path, KEYS)
    assert client.get("/v1/ratings/summary").status_code == 401
    assert client.get("/v1/ratings/summary", headers=auth("chat-key")).status_code == 403
    task = new_task(client, auth("rater-key"))
    # another tenant's rater neither sees nor judges it
    assert client.get("/v1/ratings/tasks/next", headers=auth("other-rater")).json() == {"task": None, "pending": 0}
    judged = client.post(
        f"/v1/ratings/tasks/{task['task_id']}/judgement", json={"choice": "tie"}, headers=auth("other-rater")
    )
    assert judged.status_code == 404
    assert client.get("/v1/ratings/tasks/next", headers=auth("rater-key")).json()["pending"] == 1
    # ready-made answers carry labels on trust: admin only
    supplied = {
        "question": QUESTION,
        "answers": [{"mode": "rag", "text": "one"}, {"mode": "hybrid", "adapter": "voice@3", "text": "two"}],
    }
    assert client.post("/v1/ratings/tasks", json=supplied, headers=auth("rater-key")).status_code == 403
    made = client.post("/v1/ratings/tasks", json=supplied, headers=auth("admin-key"))
    assert made.status_code == 201 and {a["text"] for a in made.json()["answers"]} == {"one", "two"}
    chosen = next(a["id"] for a in made.json()["answers"] if a["text"] == "two")
    revealed = client.post(
        f"/v1/ratings/tasks/{made.json()['task_id']}/judgement", json={"choice": chosen}, headers=auth("admin-key")
    ).json()
    assert {(a["mode"], a["adapter"]) for a in revealed["answers"] if a["chosen"]} == {("hybrid", "voice@3")}
    summary = client.get("/v1/ratings/summary", headers=auth("admin-key")).json()
    assert [r["contestant"] for r in summary["contestants"]] == ["hybrid:voice@3", "rag"]


def test_bad_task_requests_are_4xx(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    cases = [
        {"question": QUESTION},
        {"question": QUESTION, "contestants": [{"mode": "base"}]},
        {"question": QUESTION, "contestants": [{"mode": "base"}, {"mode": "base"}]},
        {"question": QUESTION, "contestants": [{"mode": "auto"}, {"mode": "base"}]},
        {"question": QUESTION, "contestants": [{"mode": "base"}, {"mode": "ft", "adapter": "../x"}]},
    ]
    for body in cases:
        assert client.post("/v1/ratings/tasks", json=body).status_code == 422, body
    surrogate = b'{"question": "lone \\ud800", "contestants": [{"mode": "base"}, {"mode": "rag"}]}'
    sent = client.post("/v1/ratings/tasks", content=surrogate, headers={"content-type": "application/json"})
    assert sent.status_code == 422  # a lone surrogate never reaches SQLite
    missing = {"question": QUESTION, "contestants": [{"mode": "base"}, {"mode": "ft", "adapter": "nope"}]}
    assert client.post("/v1/ratings/tasks", json=missing).status_code == 404
    no_adapter_for_base = {"question": QUESTION, "contestants": [{"mode": "base", "adapter": "voice"}, {"mode": "rag"}]}
    assert client.post("/v1/ratings/tasks", json=no_adapter_for_base).status_code == 400
    assert client.get("/v1/ratings/summary", params={"by": "colour"}).status_code == 422


def test_kpi_route_keeps_its_totals_and_adds_the_trend(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    new_task(client)  # two answers through the pipeline: two logged requests
    plain = client.get("/v1/kpi").json()
    assert plain["requests"] == 2 and plain["trend"] == [] and plain["period"] is None
    weekly = client.get("/v1/kpi", params={"period": "week", "group": "mode"}).json()
    assert weekly["group"] == ["mode"] and {p["mode"] for p in weekly["trend"]} == {"base", "ft"}
    assert all(p["adapter"] is None and p["tenant"] is None for p in weekly["trend"])
    assert client.get("/v1/kpi", params={"period": "month"}).status_code == 422
    assert client.get("/v1/kpi", params={"period": "day", "group": "colour"}).status_code == 400
