"""The gateway over real HTTP: real tiny models, a real FAISS index, vLLM on CPU (the shared
``vllm_server``; set RAGTUNE_TEST_GATEWAY_ENGINE=local to use the in-process engine instead).

One gateway per module (uvicorn in a thread) with two tenants: A (namespace ``default``, adapter
``voice-a``, may register ``gw-new``) and B (namespace ``tenant-b``, adapter ``voice-b``).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from services.gateway.prompts import build_prompt, format_context

pytestmark = pytest.mark.integration

SUFFIX = uuid.uuid4().hex[:6]
VOICE_A, VOICE_B, NEW_ADAPTER = f"gw-a-{SUFFIX}", f"gw-b-{SUFFIX}", f"gw-new-{SUFFIX}"
LATE_ADAPTER = f"gw-late-{SUFFIX}"
KEY_A, KEY_B, KEY_LIMITED = "key-tenant-a", "key-tenant-b", "key-limited"
DOCS_A = ("energideklaration.md", "ventilation.md", "strandskydd.md")
QUESTION = "How long does an energy declaration remain valid?"
UNRELATED = "Who won the football world cup in 1934?"
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def gateway_home(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, tiny_adapter: Path, tiny_adapter_2: Path
) -> Path:
    """RAGTUNE_HOME with the models, two adapters, A's sample documents and one document of B's."""
    from indexer import DocumentStore
    from indexer.sample import build_sample_corpus
    from ragtune.settings import IndexSettings

    home = tmp_path_factory.mktemp("gateway-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    shutil.copytree(tiny_adapter, home / "adapters" / VOICE_A)
    shutil.copytree(tiny_adapter_2, home / "adapters" / VOICE_B)
    shutil.copytree(tiny_adapter_2, home / "adapters" / "staging" / NEW_ADAPTER)  # registered at run time
    corpus = build_sample_corpus(tmp_path_factory.mktemp("corpus"))
    chosen = [p for p in corpus if p.name in DOCS_A]
    with DocumentStore.open(home / "index", models_dir / "all-minilm-l6-v2", IndexSettings()) as store:
        store.add_paths(chosen, namespace="default")
        store.add_bytes(
            "b-secret.md",
            b"# Tenant B\n\nThe energy declaration of tenant B's office is "
            b"valid until the year 2031 according to inspector Quibble.",
            namespace="tenant-b",
        )
    return home


@pytest.fixture(scope="module")
def gateway(gateway_home: Path, engine_settings: dict):
    from ragtune.settings import Settings
    from services.gateway.server import BackgroundGateway

    settings = Settings(
        home=gateway_home,
        engine=engine_settings,
        gateway={
            "max_tokens_limit": 256,
            "max_question_chars": 500,
            "max_body_bytes": 200_000,
            "shared_adapters": [VOICE_B],  # B's adapter sits in the shared folder: the admin shares it
            "api_keys": {
                KEY_A: {
                    "name": "a",
                    "namespace": "default",
                    "adapters": [VOICE_A, NEW_ADAPTER, LATE_ADAPTER],
                    "roles": ["chat", "documents", "adapters", "admin"],
                },
                KEY_B: {"name": "b", "namespace": "tenant-b", "adapters": [VOICE_B], "roles": ["chat", "documents"]},
                KEY_LIMITED: {"name": "limited", "namespace": "default", "rate_limit_per_minute": 2},
            },
        },
    )
    with BackgroundGateway(settings) as running:
        yield running


def client(gateway, key: str | None = KEY_A) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=gateway.url, headers=headers, timeout=300)


def ask(gateway, key: str = KEY_A, **body) -> dict:
    body.setdefault("max_tokens", MAX_TOKENS)
    response = client(gateway, key).post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == response.json()["id"]
    return response.json()


@pytest.fixture(scope="module")
def tokenizer(generator_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(generator_path))


def template_tokens(tokenizer, messages) -> int:
    encoded = tokenizer.apply_chat_template(
        [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return len(encoded["input_ids"])


def test_each_mode_answers(gateway) -> None:
    for mode, adapter in (("base", None), ("rag", None), ("ft", VOICE_A), ("hybrid", VOICE_A)):
        result = ask(gateway, question=QUESTION, mode=mode)
        assert result["mode"] == mode and result["adapter"] == adapter
        assert result["answer"].strip() and not result["refused"]
        assert result["usage"]["completion_tokens"] > 0
        assert result["latency_ms"]["total"] >= result["latency_ms"]["ttft"] > 0
        assert result["cost"]["usd"] > 0 and result["cost"]["price_source"] == "self_hosted"
    auto = ask(gateway, question=QUESTION, mode="auto")
    assert auto["requested_mode"] == "auto" and auto["mode"] == "hybrid" and auto["adapter"] == VOICE_A
    assert ask(gateway, question=UNRELATED, mode="auto")["mode"] == "ft"


def test_rag_and_hybrid_cite_the_right_document(gateway) -> None:
    for mode in ("rag", "hybrid"):
        result = ask(gateway, question=QUESTION, mode=mode)
        citations = result["citations"]
        assert citations and [c["marker"] for c in citations] == list(range(1, len(citations) + 1))
        top = citations[0]
        assert top["source"].endswith("energideklaration.md")
        assert top["section"] == QUESTION and "10 years" in top["text"]
        assert top["dense_score"] >= 0.3


def test_usage_equals_the_tokenizer_counts(gateway, tokenizer) -> None:
    question_tokens = len(tokenizer.encode(QUESTION, add_special_tokens=False))
    base = ask(gateway, question=QUESTION, mode="base")
    prompt = build_prompt("base", QUESTION)
    assert base["usage"]["question_tokens"] == question_tokens
    assert base["usage"]["context_tokens"] == 0
    assert base["usage"]["prompt_tokens"] == template_tokens(tokenizer, prompt.messages)
    assert 0 < base["usage"]["completion_tokens"] <= MAX_TOKENS
    assert base["usage"]["total_tokens"] == base["usage"]["prompt_tokens"] + base["usage"]["completion_tokens"]

    rag = ask(gateway, question=QUESTION, mode="rag")
    chunks = [type("Chunk", (), c) for c in rag["citations"]]
    prompt = build_prompt("rag", QUESTION, chunks=chunks)
    assert rag["usage"]["question_tokens"] == question_tokens
    assert rag["usage"]["context_tokens"] == len(tokenizer.encode(format_context(chunks), add_special_tokens=False))
    assert rag["usage"]["prompt_tokens"] == template_tokens(tokenizer, prompt.messages)


def test_nothing_relevant_means_i_dont_know(gateway) -> None:
    result = ask(gateway, question=UNRELATED, mode="rag")
    assert result["refused"] and result["citations"] == [] and "don't know" in result["answer"]
    assert result["usage"]["prompt_tokens"] == 0 and result["cost"]["usd"] == 0


def sse_events(response: httpx.Response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_chat_streams_deltas_then_the_full_response(gateway) -> None:
    with client(gateway).stream(
        "POST", "/v1/chat", json={"question": QUESTION, "mode": "rag", "stream": True, "max_tokens": MAX_TOKENS}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    final = events[-2]
    deltas = [e["delta"] for e in events[:-2]]
    assert deltas and "".join(deltas) == final["answer"]
    assert final["citations"][0]["source"].endswith("energideklaration.md")
    assert final["usage"]["completion_tokens"] > 0 and final["latency_ms"]["ttft"] > 0
    assert final["id"] == response.headers["x-request-id"]


def test_openai_client_plain_and_streaming(gateway, tokenizer) -> None:
    from openai import OpenAI

    api = OpenAI(base_url=gateway.url + "/v1", api_key=KEY_A)
    models = {m.id: m for m in api.models.list().data}
    base_name = next(name for name, m in models.items() if m.model_extra.get("parent") is None)
    assert VOICE_A in models and VOICE_B not in models
    assert models[VOICE_A].model_extra["parent"] == base_name

    completion = api.chat.completions.create(
        model=base_name,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=MAX_TOKENS,
        extra_body={"ragtune": {"mode": "rag"}},
    )
    assert completion.choices[0].message.content
    extra = completion.model_extra
    assert extra["citations"][0]["source"].endswith("energideklaration.md")
    assert extra["ragtune"]["mode"] == "rag"
    assert completion.usage.prompt_tokens == extra["ragtune"]["usage"]["prompt_tokens"]
    assert completion.usage.completion_tokens == extra["ragtune"]["usage"]["completion_tokens"]

    plain = api.chat.completions.create(
        model=VOICE_A, messages=[{"role": "user", "content": QUESTION}], max_tokens=MAX_TOKENS
    )
    assert plain.model_extra["ragtune"]["mode"] == "ft" and plain.model_extra["ragtune"]["adapter"] == VOICE_A
    assert plain.usage.prompt_tokens == template_tokens(tokenizer, build_prompt("base", QUESTION).messages)

    stream = api.chat.completions.create(
        model=base_name,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ragtune": {"mode": "rag"}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    # like vLLM, the role rides on the first chunk with text (a client's TTFT is the engine's)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)

    # vLLM's ignore_eos extension (benchmarks): exactly max_tokens tokens
    long = api.chat.completions.create(
        model=base_name,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=24,
        extra_body={"ignore_eos": True},
    )
    assert long.usage.completion_tokens == 24 and long.choices[0].finish_reason == "length"
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0
    assert last.model_extra["citations"] and last.model_extra["ragtune"]["usage"]["context_tokens"] > 0


def test_adapters_load_and_unload_at_run_time(gateway, gateway_home: Path) -> None:
    api = client(gateway)
    path = str(gateway_home / "adapters" / "staging" / NEW_ADAPTER)
    registered = api.post("/v1/adapters", json={"name": NEW_ADAPTER, "path": path})
    assert registered.status_code == 201, registered.text
    assert api.post("/v1/adapters", json={"name": NEW_ADAPTER, "path": path}).status_code == 409
    assert NEW_ADAPTER in [m["id"] for m in api.get("/v1/models").json()["data"]]
    result = ask(gateway, question=QUESTION, mode="ft", adapter=NEW_ADAPTER)
    assert result["adapter"] == NEW_ADAPTER and result["answer"]
    assert api.delete(f"/v1/adapters/{NEW_ADAPTER}").status_code == 200
    gone = api.post("/v1/chat", json={"question": QUESTION, "mode": "ft", "adapter": NEW_ADAPTER})
    assert gone.status_code == 404 and gone.json()["error"]["message"]
    assert NEW_ADAPTER not in [m["id"] for m in api.get("/v1/models").json()["data"]]


def test_adapter_trained_after_start_is_served_on_first_use(gateway, gateway_home: Path, tiny_adapter_2: Path) -> None:
    """A folder that appears in adapters_dir while the gateway runs (``ragtune train``, another
    replica's deployment) is loaded by the first request naming it; an API unload sticks."""
    api = client(gateway)
    assert LATE_ADAPTER not in [m["id"] for m in api.get("/v1/models").json()["data"]]
    shutil.copytree(tiny_adapter_2, gateway_home / "adapters" / LATE_ADAPTER)
    result = ask(gateway, question=QUESTION, mode="ft", adapter=LATE_ADAPTER)
    assert result["adapter"] == LATE_ADAPTER and result["answer"]
    assert LATE_ADAPTER in [m["id"] for m in api.get("/v1/models").json()["data"]]
    other = client(gateway, KEY_B).post("/v1/chat", json={"question": QUESTION, "mode": "ft", "adapter": LATE_ADAPTER})
    assert other.status_code == 403
    assert api.delete(f"/v1/adapters/{LATE_ADAPTER}").status_code == 200
    gone = api.post("/v1/chat", json={"question": QUESTION, "mode": "ft", "adapter": LATE_ADAPTER})
    assert gone.status_code == 404
    traversal = api.post(
        "/v1/chat/completions",
        json={"model": "../adapters/" + VOICE_A, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert traversal.status_code == 404


def test_uploaded_document_is_cited_then_gone_after_delete(gateway) -> None:
    api = client(gateway)
    text = (
        b"# Zorblax roofing membranes\n\nThe Zorblax roofing membrane comes with a warranty of seventeen "
        b"years. Zorblax membranes are installed by certified Zaragoza roofers only."
    )
    added = api.post("/v1/documents", files={"files": ("zorblax.md", text, "text/markdown")})
    assert added.status_code == 201, added.text
    doc_id = added.json()["reports"][0]["documents"][0]["doc_id"]
    assert doc_id in [d["doc_id"] for d in api.get("/v1/documents").json()["documents"]]
    question = "How many years of warranty does the Zorblax roofing membrane have?"
    result = ask(gateway, question=question, mode="rag")
    assert result["citations"][0]["doc_id"] == doc_id

    deleted = api.delete(f"/v1/documents/{doc_id}")
    assert deleted.status_code == 200 and deleted.json()["deleted"]
    assert doc_id not in [d["doc_id"] for d in api.get("/v1/documents").json()["documents"]]
    after = ask(gateway, question=question, mode="rag")
    assert doc_id not in [c["doc_id"] for c in after["citations"]]
    assert api.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_tenants_cannot_reach_each_other(gateway) -> None:
    a, b = client(gateway, KEY_A), client(gateway, KEY_B)
    b_docs = [d["doc_id"] for d in b.get("/v1/documents").json()["documents"]]
    a_docs = [d["doc_id"] for d in a.get("/v1/documents").json()["documents"]]
    assert b_docs and a_docs and not set(a_docs) & set(b_docs)
    answer = ask(gateway, KEY_B, question=QUESTION, mode="rag")
    assert {c["doc_id"] for c in answer["citations"]} <= set(b_docs)
    answer = ask(
        gateway, KEY_A, question="When is the energy declaration of tenant B's office valid until?", mode="rag"
    )
    assert not {c["doc_id"] for c in answer["citations"]} & set(b_docs)
    assert b.post("/v1/chat", json={"question": QUESTION, "namespace": "default"}).status_code == 403
    assert b.get("/v1/documents", params={"namespace": "default"}).status_code == 403
    assert b.delete(f"/v1/documents/{a_docs[0]}", params={"namespace": "default"}).status_code == 403
    assert b.delete(f"/v1/documents/{a_docs[0]}").status_code == 404
    for body in (
        {"question": QUESTION, "mode": "ft", "adapter": VOICE_A},
        {"question": QUESTION, "mode": "hybrid", "adapter": VOICE_A},
    ):
        assert b.post("/v1/chat", json=body).status_code == 403
    assert (
        b.post(
            "/v1/chat/completions", json={"model": VOICE_A, "messages": [{"role": "user", "content": "hi"}]}
        ).status_code
        == 404
    )
    assert b.delete(f"/v1/adapters/{VOICE_A}").status_code == 403
    assert ask(gateway, KEY_B, question=QUESTION, mode="ft")["adapter"] == VOICE_B
    assert client(gateway, None).post("/v1/chat", json={"question": QUESTION}).status_code == 401
    assert client(gateway, "wrong").get("/v1/models").status_code == 401


def test_bad_inputs_get_4xx_json_errors(gateway) -> None:
    api = client(gateway)
    bad_bodies = [
        {},
        {"question": ""},
        {"question": "q", "messages": [{"role": "user", "content": "q"}]},
        {"question": "q", "mode": "telepathy"},
        {"question": "q", "top_k": 0},
        {"question": "q", "top_k": 10_000},
        {"question": "q", "max_tokens": 100_000},
        {"question": "x" * 501},
        {"question": "q", "temperature": 9},
        {"question": "q", "repetition_penalty": 0.5},
        {"question": "q", "unknown_field": 1},
        {"messages": [{"role": "assistant", "content": "hi"}]},
    ]
    for body in bad_bodies:
        response = api.post("/v1/chat", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["message"]
    expectations = [
        (api.post("/v1/chat", json={"question": "q", "mode": "ft", "adapter": "missing"}), 403),
        (api.post("/v1/chat", json={"question": "q", "mode": "rag", "adapter": VOICE_A}), 400),
        (api.post("/v1/chat", content=b"{not json", headers={"content-type": "application/json"}), 422),
        (api.post("/v1/chat", content=b"x" * 300_000, headers={"content-type": "application/json"}), 413),
        (api.post("/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "q"}]}), 404),
        (api.post("/v1/feedback", json={"request_id": "req-unknown", "rating": 1, "resolved": True}), 404),
        (api.post("/v1/feedback", json={"request_id": "r", "rating": 5, "resolved": True}), 422),
        (api.post("/v1/documents", files={"files": ("virus.exe", b"MZ\x00\x01", "application/octet-stream")}), 415),
        (api.post("/v1/documents", files={"files": ("empty.md", b"   ", "text/markdown")}), 422),
        (api.post("/v1/adapters", json={"name": "x", "path": "/etc"}), 403),
        (api.post("/v1/adapters", json={"name": "../../etc"}), 422),
        (api.get("/v1/nothing-here"), 404),
    ]
    for response, status in expectations:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.json()["error"]["message"]


def test_rate_limit_per_key(gateway) -> None:
    limited = client(gateway, KEY_LIMITED)
    statuses = [limited.get("/v1/models").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client(gateway, KEY_A).get("/v1/models").status_code == 200


def test_compare_runs_the_four_modes_on_the_same_context(gateway) -> None:
    response = client(gateway).post("/v1/compare", json={"question": QUESTION, "max_tokens": 16})
    assert response.status_code == 200, response.text
    result = response.json()
    by_mode = {r["mode"]: r for r in result["results"]}
    assert set(by_mode) == {"base", "rag", "ft", "hybrid"} and result["baseline"] == "rag"
    chunk_ids = {mode: [c["chunk_id"] for c in by_mode[mode]["citations"]] for mode in ("rag", "hybrid")}
    assert chunk_ids["rag"] == chunk_ids["hybrid"]
    assert by_mode["ft"]["adapter"] == VOICE_A and by_mode["base"]["citations"] == []
    delta = result["deltas"]["base"]
    assert delta["context_tokens"] == -by_mode["rag"]["usage"]["context_tokens"] < 0
    prompt_tokens = {mode: by_mode[mode]["usage"]["prompt_tokens"] for mode in ("base", "rag")}
    assert delta["prompt_tokens"] == prompt_tokens["base"] - prompt_tokens["rag"]
    assert result["deltas"]["rag"]["total_tokens"] == 0


def test_feedback_kpis_metrics_and_health(gateway) -> None:
    api = client(gateway)
    first = ask(gateway, question=QUESTION, mode="rag")
    second = ask(gateway, question=QUESTION, mode="base")
    assert api.post("/v1/feedback", json={"request_id": first["id"], "rating": 1, "resolved": True}).status_code == 201
    assert (
        api.post(
            "/v1/feedback",
            json={"request_id": second["id"], "rating": -1, "resolved": False, "comment": "not grounded"},
        ).status_code
        == 201
    )
    # B cannot rate A's answers
    assert (
        client(gateway, KEY_B)
        .post("/v1/feedback", json={"request_id": first["id"], "rating": -1, "resolved": False})
        .status_code
        == 404
    )
    kpi = api.get("/v1/kpi").json()
    rows = {(r["mode"], r["adapter"]): r for r in kpi["by_mode_adapter"]}
    assert rows[("rag", None)]["good"] >= 1 and rows[("base", None)]["rated"] >= 1
    assert 0 < kpi["good_share"] < 1

    assert api.post("/v1/chat", json={"question": ""}).status_code == 422
    assert httpx.get(gateway.url + "/metrics").status_code == 401  # metrics need the admin role
    assert client(gateway, KEY_B).get("/metrics").status_code == 403
    metrics = api.get("/metrics").text
    assert 'ragtune_requests_total{adapter="",mode="rag",route="chat"}' in metrics
    assert "ragtune:context_tokens_total" in metrics and 'stage="ttft"' in metrics
    assert "ragtune_cost_usd_total" in metrics and "ragtune:num_requests_running" in metrics
    assert "ragtune:time_to_first_token_seconds_bucket" in metrics and "process_resident_memory_bytes" in metrics
    assert 'ragtune_errors_total{route="/v1/chat",status="422"}' in metrics

    health = httpx.get(gateway.url + "/healthz")  # public: readiness only
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "ready": True, "engine": {"ready": True}, "index": {"ready": True}}
    assert client(gateway, KEY_B).get("/v1/health").status_code == 403
    assert set(client(gateway, KEY_B).get("/healthz", params={"detail": "true"}).json()) == set(health.json())
    for detail in (api.get("/v1/health"), api.get("/healthz", params={"detail": "true"})):
        assert detail.status_code == 200
        body = detail.json()
        assert body["status"] == "ok" and body["engine"]["ready"] and body["index"]["documents"] >= 4
        assert VOICE_A in body["adapters"]
