"""Schemathesis against the gateway's OpenAPI schema over real HTTP: no input yields a 5xx.

A separate gateway with an API key configured (every generated request carries it, so the checks
reach past authentication), its own small index, tiny answer limits (max_tokens ≤ 4) and few
examples per operation keeps this lean; ``benchmarks/bench_gateway_schema.py`` runs ≥ 100 examples
per operation.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.integration
KEY = "schema-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def schema_gateway(engine_settings: dict, tmp_path_factory: pytest.TempPathFactory, models_dir: Path):
    from indexer import DocumentStore
    from ragtune.settings import IndexSettings, Settings
    from services.gateway.server import BackgroundGateway

    home = tmp_path_factory.mktemp("gateway-schema-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    with DocumentStore.open(home / "index", models_dir / "all-minilm-l6-v2", IndexSettings()) as store:
        store.add_bytes("windows.md", b"# Windows\n\nTriple-glazed windows keep a house warm in winter.")
    config = Settings(
        home=home,
        engine=engine_settings,
        gateway={
            "max_tokens_limit": 4,
            "default_max_tokens": 4,
            "max_question_chars": 300,
            "max_body_bytes": 100_000,
            "api_keys": {KEY: {"name": "schema", "rate_limit_per_minute": 100_000, "roles": ["admin"]}},
            # negative cases send malformed keys on purpose: don't let their 401s throttle the rest
            "auth_failures_per_minute": 100_000,
        },
    )
    with BackgroundGateway(config) as running:
        yield running


def test_no_input_gives_a_server_error(schema_gateway) -> None:
    """Every operation, a few generated cases each (valid and schema-violating); no 5xx anywhere."""
    schema = schemathesis.openapi.from_url(schema_gateway.url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @settings(
            max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            case.call_and_validate(checks=[not_a_server_error], headers=HEADERS, timeout=120)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert operations >= 10
    assert not failures, "\n".join(failures)
    metrics = httpx.get(schema_gateway.url + "/metrics", headers=HEADERS).text
    answered = re.findall(r'^ragtune_requests_total\{.*route="(\w+)"\} [1-9]', metrics, re.M)
    assert answered  # valid generated requests really reached the engine


@pytest.mark.parametrize(
    "route,files,data",
    [
        ("/v1/documents", {"files": ("deep.json", b"[" * 20_000 + b"]" * 20_000)}, None),
        (
            "/v1/documents",
            {"files": ("note.md", b"# Note\n\nA note.")},
            {"metadata": '{"a": ' * 5000 + "1" + "}" * 5000},
        ),
    ],
)
def test_deep_json_uploads_are_4xx(schema_gateway, route: str, files: dict, data: dict | None) -> None:
    response = httpx.post(schema_gateway.url + route, files=files, data=data, headers=HEADERS, timeout=60)
    assert 400 <= response.status_code < 500, response.text
    assert "JSON depth limit" in response.json()["error"]["message"]


def test_deep_json_body_is_4xx(schema_gateway) -> None:
    body = b'{"question": "hi", "filters": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = httpx.post(
        schema_gateway.url + "/v1/chat",
        content=body,
        headers={**HEADERS, "content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 422
    assert "JSON depth limit" in response.json()["error"]["message"]
