"""The gateway refuses adapters whose memorization audit failed, saying why (local engine, real HTTP
through the in-process ASGI client)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from ragtune.settings import Settings
from services.gateway.app import create_app

pytestmark = pytest.mark.integration
REASON = "canary canary-1 (inserted 8×) has exposure 17.5 bits ≥ 10.0"


def _home(tmp_path: Path, models_dir: Path, tiny_adapter: Path) -> Path:
    home = tmp_path / "home"
    (home / "adapters").mkdir(parents=True)
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    for name, passed in (("leaky", False), ("clean", True)):
        shutil.copytree(tiny_adapter, home / "adapters" / name)
        (home / "adapters" / name / "adapter_card.json").write_text(
            json.dumps({"name": name, "audit": {"passed": passed, "reasons": [] if passed else [REASON]}})
        )
    return home


async def _run(settings: Settings, checks) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            await checks(client)


@pytest.mark.asyncio
async def test_failed_audit_is_refused_unless_allowed(tmp_path: Path, models_dir: Path, tiny_adapter: Path) -> None:
    home = _home(tmp_path, models_dir, tiny_adapter)

    async def refused(client: httpx.AsyncClient) -> None:
        names = [a["name"] for a in (await client.get("/v1/adapters")).json()]
        assert names == ["clean"]
        answer = await client.post(
            "/v1/chat", json={"question": "Hi?", "mode": "ft", "adapter": "leaky", "max_tokens": 4}
        )
        assert answer.status_code == 409
        message = answer.json()["error"]["message"]
        assert "failed its memorization audit" in message and REASON in message
        registered = await client.post(
            "/v1/adapters", json={"name": "leaky2", "path": str(home / "adapters" / "leaky")}
        )
        assert registered.status_code == 409

    await _run(Settings(home=home, engine={"kind": "local"}), refused)

    async def allowed(client: httpx.AsyncClient) -> None:
        names = [a["name"] for a in (await client.get("/v1/adapters")).json()]
        assert names == ["clean", "leaky"]

    await _run(Settings(home=home, engine={"kind": "local"}, audit={"allow_failed": True}), allowed)
