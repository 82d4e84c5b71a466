"""Admission control against a real engine (the shared vLLM, or the local engine): with the cap at 2
and a queue of 3, ten concurrent questions get answers or a 503 with Retry-After, never a 5xx else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def capped_gateway(engine_settings: dict, tmp_path_factory: pytest.TempPathFactory, models_dir: Path):
    from ragtune.settings import Settings
    from services.gateway.server import BackgroundGateway

    home = tmp_path_factory.mktemp("gateway-admission-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    config = Settings(
        home=home,
        engine=engine_settings,
        gateway={
            "max_tokens_limit": 32,
            "rate_limit_per_minute": 100_000,
            "sse_keepalive_s": 0.05,
            "admission": {"max_in_flight": 2, "max_queue": 3, "queue_timeout_s": 120},
        },
    )
    with BackgroundGateway(config) as running:
        yield running


def test_cap_two_ten_concurrent_questions(capped_gateway) -> None:
    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=capped_gateway.url, timeout=300) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(
                            "/v1/chat",
                            json={"question": f"Name a colour, please ({i}).", "mode": "base", "max_tokens": 32},
                        )
                        for i in range(10)
                    )
                )
            )

    responses = asyncio.run(ask_all())
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, [r.text for r in responses if r.status_code not in (200, 503)]
    assert statuses.count(200) >= 5  # the two running and the three queued
    assert statuses.count(503) >= 1
    for response in responses:
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) >= 1
            assert "queue limit 3" in response.json()["error"]["message"]
    # the slots were all given back: a later question is answered at once
    after = httpx.post(
        capped_gateway.url + "/v1/chat", json={"question": "Hello?", "mode": "base", "max_tokens": 4}, timeout=120
    )
    assert after.status_code == 200


def test_streams_of_both_chat_apis_send_keepalive_comments_while_queued(capped_gateway) -> None:
    """Both slots held by plain questions: a stream queued behind them (on /v1/chat and on the
    OpenAI route alike) sends ``: keep-alive`` comments (gateway.sse_keepalive_s) before its answer."""

    async def scenario() -> list[str]:
        async with httpx.AsyncClient(base_url=capped_gateway.url, timeout=300) as client:

            async def blocker(i: int) -> httpx.Response:
                body = {"question": f"Count to twenty ({i}).", "mode": "base", "max_tokens": 32}
                return await client.post("/v1/chat", json=body)

            async def stream(path: str, body: dict) -> str:
                await asyncio.sleep(0.3)  # after the blockers took both slots
                async with client.stream("POST", path, json=body) as response:
                    assert response.status_code == 200
                    return "".join([piece async for piece in response.aiter_text()])

            results = await asyncio.gather(
                blocker(1),
                blocker(2),
                stream("/v1/chat", {"question": "Hello?", "mode": "base", "max_tokens": 4, "stream": True}),
                stream(
                    "/v1/chat/completions",
                    {
                        "model": "smollm2-135m-instruct",
                        "messages": [{"role": "user", "content": "Hello?"}],
                        "max_tokens": 4,
                        "stream": True,
                    },
                ),
            )
            assert all(r.status_code == 200 for r in results[:2])
            return list(results[2:])

    for text in asyncio.run(scenario()):
        assert ": keep-alive" in text
        assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text
