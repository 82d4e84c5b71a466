"""The deployed topology on one machine: an index published by deploy/scripts/publish-index.sh
(the real `ragtune index add`), copied into a replica's home by fetch-index.sh, and the gateway
(`ragtune serve`, configured only through the environment the k8s ConfigMap sets) answering
through an external vLLM server, with the index read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "deploy" / "scripts"
RAGTUNE = Path(sys.executable).parent / "ragtune"
CLIENT_KEY = "deploy-test-client-key"
CATEGORIES = ("bygglov", "rot-avdrag")


def _faq_documents(docs: Path) -> None:
    """Two markdown documents of the bundled company FAQ (a few Q/A pairs each)."""
    import zaragoza_construction_faq

    data = Path(zaragoza_construction_faq.__file__).parent / "data" / "faq-en.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    (docs / "default").mkdir(parents=True)
    for category in CATEGORIES:
        pairs = [r for r in rows if r["category"] == category][:4]
        body = "\n\n".join(f"## {r['q']}\n\n{r['a']}" for r in pairs)
        (docs / "default" / f"{category}.md").write_text(f"# Zaragoza AB: {category}\n\n{body}\n")


def _configmap_env() -> dict[str, str]:
    doc = yaml.safe_load((REPO / "deploy" / "k8s" / "configmap.yaml").read_text())
    return {key: str(value) for key, value in doc["data"].items()}


@pytest.fixture(scope="module")
def published_home(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A replica's RAGTUNE_HOME whose index/ is the release the publish script made."""
    root = tmp_path_factory.mktemp("deploy")
    docs, published, home = root / "docs", root / "published", root / "home"
    _faq_documents(docs)
    home.mkdir()
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    (home / "adapters").mkdir()
    key_file(root).write_text("test-encryption-key-of-the-published-index-0123")
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "INDEX_CLI": str(RAGTUNE),
        "RAGTUNE_INDEX__READ_ONLY": "true",
        "RAGTUNE_CONFIG": str(root / "none.toml"),
        "RAGTUNE_ENCRYPTION_KEY_FILE": str(key_file(root)),  # the index Job mounts the key, as the gateway
    }
    result = subprocess.run(
        [str(SCRIPTS / "publish-index.sh"), str(docs), str(published)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (published / "current").is_symlink()
    result = subprocess.run(
        [str(SCRIPTS / "fetch-index.sh"), str(published), str(home / "index")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    from ragtune.crypto import sqlite_state

    assert sqlite_state(home / "index" / "catalog.sqlite3") == "encrypted"  # published encrypted
    return home


def key_file(root: Path) -> Path:
    """Where the test keeps the encryption key (the cluster mounts the Secret ragtune-encryption-key)."""
    return root / "encryption-key"


@pytest.fixture(scope="module")
def gateway(published_home: Path, vllm_server, tmp_path_factory: pytest.TempPathFactory, serve_gateway, free_port):
    """`ragtune serve` with the ConfigMap's settings, pointed at the external vLLM server."""
    port = free_port()
    env = {**os.environ, **_configmap_env()}
    env.update(
        {
            "RAGTUNE_HOME": str(published_home),
            "RAGTUNE_CONFIG": str(published_home / "none.toml"),
            "RAGTUNE_GATEWAY__HOST": "127.0.0.1",
            "RAGTUNE_GATEWAY__PORT": str(port),
            "RAGTUNE_ENGINE__URL": f"{vllm_server.url.rstrip('/')}/v1",
            "RAGTUNE_GATEWAY__API_KEYS": json.dumps(
                {CLIENT_KEY: {"name": "acme", "namespace": "default", "roles": ["admin"]}}
            ),
            "RAGTUNE_MODELS__GENERATOR": vllm_server.served_model_name,
            "RAGTUNE_ENCRYPTION_KEY_FILE": str(key_file(published_home.parent)),
        }
    )
    env.pop("RAGTUNE_ENGINE__API_KEY", None)  # the shared test server runs without a key
    log_path = tmp_path_factory.mktemp("gateway") / "serve.log"
    with serve_gateway([str(RAGTUNE), "serve"], env, log_path, f"http://127.0.0.1:{port}") as base:
        with httpx.Client(base_url=base, timeout=300, headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as client:
            yield client


def test_health_reports_the_external_engine_and_the_published_index(gateway: httpx.Client, vllm_server) -> None:
    health = gateway.get("/v1/health").json()  # the detail: the client key is an admin's
    assert health["status"] == "ok"
    assert health["engine"]["kind"] == "vllm" and health["engine"]["ready"] is True
    assert health["engine"]["url"].rstrip("/") == vllm_server.url.rstrip("/")
    assert health["index"]["ready"] is True


def test_rag_chat_answers_through_the_external_engine_with_citations(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/v1/chat", json={"question": "What is a bygglov (building permit)?", "mode": "rag", "max_tokens": 24}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].strip()
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["context_tokens"] > 0
    sources = {c["source"] for c in body["citations"]}
    assert any(s.endswith("bygglov.md") for s in sources), sources


def test_read_only_replica_refuses_uploads_and_deletes_but_keeps_serving(gateway: httpx.Client) -> None:
    before = gateway.get("/v1/documents")
    assert before.status_code == 200
    documents = before.json()["documents"]
    assert len(documents) == len(CATEGORIES)

    upload = gateway.post("/v1/documents", files={"files": ("new.md", b"# New\n\nA new policy.", "text/markdown")})
    assert 400 <= upload.status_code < 500, upload.text
    assert "read-only" in json.dumps(upload.json()["error"]).lower().replace("read only", "read-only")

    delete = gateway.delete(f"/v1/documents/{documents[0]['doc_id']}")
    assert 400 <= delete.status_code < 500, delete.text
    assert "read-only" in json.dumps(delete.json()["error"]).lower().replace("read only", "read-only")

    after = gateway.get("/v1/documents").json()["documents"]
    assert [d["doc_id"] for d in after] == [d["doc_id"] for d in documents]
    again = gateway.post("/v1/chat", json={"question": "Can I get ROT deduction?", "mode": "rag", "max_tokens": 8})
    assert again.status_code == 200 and again.json()["citations"]
