"""Roles, hashed keys and tenant-owned adapters over real HTTP (issue 16's acceptance tests).

One gateway (uvicorn in a thread, the in-process engine on the tiny SmolLM2: vLLM is not what is
tested here) with:
- tenant ``a`` (chat, documents, adapters; allowed only the adapter name ``voice-a``), a plain key;
- tenant ``b`` (chat, adapters), configured by its key's hash;
- tenant ``c`` with no roles configured (chat only);
- ``ops`` (admin), and a key of ``ragtune keys create``'s file (``d``, chat).
Each tenant's own adapters lie in RAGTUNE_HOME/tenants/<tenant>/adapters; ``house`` lies in the
shared folder and is not shared.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest

from ragtune.key_hash import hash_key

pytestmark = pytest.mark.integration

KEY_A, KEY_B, KEY_C, KEY_ADMIN = (f"access-{who}-{uuid.uuid4().hex}" for who in ("a", "b", "c", "admin"))
VOICE_A, VOICE_B, HOUSE = "voice-a", "voice-b", "house"
QUESTION = "How long does an energy declaration remain valid?"


@pytest.fixture(scope="module")
def access_home(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, tiny_adapter: Path, tiny_adapter_2: Path):
    home = tmp_path_factory.mktemp("access-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    shutil.copytree(tiny_adapter, home / "tenants" / "a" / "adapters" / VOICE_A)
    shutil.copytree(tiny_adapter_2, home / "tenants" / "b" / "adapters" / VOICE_B)
    shutil.copytree(tiny_adapter_2, home / "tenants" / "b" / "adapters" / VOICE_A)  # B's own "voice-a"
    shutil.copytree(tiny_adapter, home / "adapters" / HOUSE)  # loaded at start, the admin's
    return home


@pytest.fixture(scope="module")
def file_key(access_home: Path) -> tuple[str, str]:
    """A key of the keys file (``ragtune keys create``): (key, prefix)."""
    from ragtune.keys import KeyFile
    from ragtune.settings import TenantSettings

    key, record = KeyFile(access_home / "keys.json").create(TenantSettings(name="d", roles=["chat"]))
    return key.get_secret_value(), record.prefix


@pytest.fixture(scope="module")
def gateway(access_home: Path, file_key):
    from ragtune.settings import Settings
    from services.gateway.server import BackgroundGateway

    settings = Settings(
        home=access_home,
        engine={"kind": "local"},
        gateway={
            "max_tokens_limit": 64,
            "api_keys": {
                KEY_A: {"name": "a", "roles": ["chat", "documents", "adapters"], "adapters": [VOICE_A]},
                hash_key(KEY_B): {"name": "b", "namespace": "tenant-b", "roles": ["chat", "adapters"]},
                KEY_C: {"name": "c"},
                KEY_ADMIN: {"name": "ops", "roles": ["admin"]},
            },
        },
    )
    with BackgroundGateway(settings) as running:
        yield running


def client(gateway, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=gateway.url, headers=headers, timeout=300)


def forbidden(response: httpx.Response, says: str) -> None:
    assert response.status_code == 403, response.text
    assert says in response.json()["error"]["message"]


def test_a_tenant_cannot_register_another_tenants_folder(gateway, access_home: Path) -> None:
    a, b = client(gateway, KEY_A), client(gateway, KEY_B)
    b_folder = access_home / "tenants" / "b" / "adapters" / VOICE_A
    forbidden(a.post("/v1/adapters", json={"name": VOICE_A, "path": str(b_folder)}), "own folder")
    forbidden(a.post("/v1/adapters", json={"name": VOICE_A, "path": "../../b/adapters/voice-b"}), "own folder")
    forbidden(
        a.post("/v1/adapters", json={"name": VOICE_A, "path": str(access_home / "adapters" / HOUSE)}), "own folder"
    )
    forbidden(a.post("/v1/adapters", json={"name": VOICE_A, "shared": True}), "only an admin")
    registered = a.post("/v1/adapters", json={"name": VOICE_A})  # from its own folder
    assert registered.status_code == 201, registered.text
    assert registered.json()["owner"] == "a" and registered.json()["shared"] is False
    # B's own folder holds a "voice-a" too: the name is A's now, B cannot overwrite it
    forbidden(b.post("/v1/adapters", json={"name": VOICE_A}), "belongs to another tenant")
    assert b.post("/v1/adapters", json={"name": VOICE_B}).status_code == 201


def test_no_tenant_unloads_or_uses_another_tenants_adapter(gateway) -> None:
    a, b, c = client(gateway, KEY_A), client(gateway, KEY_B), client(gateway, KEY_C)
    forbidden(c.delete(f"/v1/adapters/{VOICE_B}"), "lacks the 'adapters' role")  # default role: chat
    forbidden(a.delete(f"/v1/adapters/{VOICE_B}"), "may not use adapter")  # A may name only voice-a
    forbidden(b.delete(f"/v1/adapters/{VOICE_A}"), "belongs to another tenant")
    forbidden(b.delete(f"/v1/adapters/{HOUSE}"), "only an admin")
    for key, name in ((KEY_B, VOICE_A), (KEY_C, VOICE_B), (KEY_B, HOUSE)):
        response = client(gateway, key).post("/v1/chat", json={"question": QUESTION, "mode": "ft", "adapter": name})
        assert response.status_code == 403, (key, name, response.text)
    completion = b.post(
        "/v1/chat/completions", json={"model": VOICE_A, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert completion.status_code == 403
    assert [m["id"] for m in b.get("/v1/models").json()["data"]][1:] == [VOICE_B]
    assert [v["name"] for v in b.get("/v1/adapters").json()] == [VOICE_B]
    assert c.get("/v1/adapters").json() == []  # nothing of its own, nothing shared
    answer = a.post("/v1/chat", json={"question": QUESTION, "mode": "ft", "max_tokens": 4})
    assert answer.status_code == 200 and answer.json()["adapter"] == VOICE_A  # its own, by default


def test_roles_gate_documents_and_admin_may_do_all(gateway) -> None:
    upload = {"files": ("note.md", b"# Note\n\nThe access test note says the gate is closed.", "text/markdown")}
    for key in (KEY_C, KEY_B):
        forbidden(client(gateway, key).post("/v1/documents", files=upload), "lacks the 'documents' role")
    forbidden(client(gateway, KEY_C).get("/v1/kpi"), "lacks the 'admin' role")
    admin = client(gateway, KEY_ADMIN)
    added = admin.post("/v1/documents", files=upload)
    assert added.status_code == 201, added.text
    assert admin.get("/v1/kpi").status_code == 200
    assert {v["name"] for v in admin.get("/v1/adapters").json()} >= {VOICE_A, VOICE_B, HOUSE}
    assert admin.delete(f"/v1/adapters/{VOICE_B}").status_code == 200
    assert admin.delete(f"/v1/adapters/{HOUSE}").status_code == 200
    shared = admin.post("/v1/adapters", json={"name": HOUSE, "shared": True})
    assert shared.status_code == 201 and shared.json()["shared"] is True and shared.json()["owner"] is None
    assert HOUSE in [v["name"] for v in client(gateway, KEY_C).get("/v1/adapters").json()]  # now shared


def test_whoami_and_the_schema_say_what_a_key_may_do(gateway, file_key) -> None:
    who = client(gateway, KEY_C).get("/v1/whoami").json()
    assert who["tenant"] == "c" and who["roles"] == ["chat"] and who["namespace"] == "default"
    assert who["can"] == {"chat": True, "documents": False, "adapters": False, "rate": False, "admin": False}
    admin = client(gateway, KEY_ADMIN).get("/v1/whoami").json()
    assert all(admin["can"].values()) and not admin["keyless"]
    filed = client(gateway, file_key[0]).get("/v1/whoami").json()
    assert filed["tenant"] == "d" and filed["key_prefix"] == file_key[1]
    assert client(gateway, None).get("/v1/whoami").status_code == 401
    schema = httpx.get(f"{gateway.url}/openapi.json").json()
    roles = {
        (method, path): op.get("x-ragtune-role") for path, ops in schema["paths"].items() for method, op in ops.items()
    }
    assert roles[("post", "/v1/documents")] == "documents" and roles[("delete", "/v1/adapters/{name}")] == "adapters"
    assert roles[("post", "/v1/chat")] == "chat" and roles[("get", "/v1/kpi")] == "admin"
    assert "Requires role" in schema["paths"]["/v1/documents"]["post"]["description"]


def test_keys_never_show_and_a_revoke_needs_no_restart(gateway, access_home: Path, file_key) -> None:
    from ragtune.keys import KeyFile

    wrong = client(gateway, KEY_A + "x").get("/v1/models")
    assert wrong.status_code == 401 and KEY_A not in wrong.text
    health = httpx.get(f"{gateway.url}/healthz").text
    for key in (KEY_A, KEY_B, KEY_C, KEY_ADMIN, file_key[0]):
        assert key not in health
    key, prefix = file_key
    assert client(gateway, key).get("/v1/models").status_code == 200
    KeyFile(access_home / "keys.json").revoke(prefix)
    deadline = time.monotonic() + 30
    status = 200
    while status == 200 and time.monotonic() < deadline:  # the ring re-reads the file within ~1 s
        status = client(gateway, key).get("/v1/models").status_code
        time.sleep(0.2)
    assert status == 401
