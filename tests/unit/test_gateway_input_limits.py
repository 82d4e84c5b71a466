"""No input yields a 5xx: JSON nesting is bounded before any parser recurses (request bodies, the
upload ``metadata`` form field, uploaded JSON / JSONL files, ``--meta`` values)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from indexer.errors import InvalidRequestError, UnreadableDocumentError
from indexer.loaders import load_bytes
from ragtune.jsonlimits import MAX_JSON_DEPTH, DepthScanner, JSONLimitError, check_depth, loads_bounded
from ragtune.settings import IndexSettings
from services.gateway.errors import InputLimitError, install_error_handlers
from services.gateway.middleware import GatewayMiddleware
from services.gateway.routes.documents import MAX_METADATA_CHARS, parse_metadata

pytestmark = pytest.mark.unit

DEEP = 50_000


def test_depth_scanner_counts_brackets_outside_strings_only() -> None:
    check_depth('{"a": "[[[[\\"[[[[", "b": [1, {"c": "]]]]"}]}', max_depth=3)
    with pytest.raises(JSONLimitError, match="deeper than 3 levels"):
        check_depth('{"a": [[{"b": 1}]]}', max_depth=3)


def test_depth_scanner_works_across_pieces_and_escapes() -> None:
    scanner = DepthScanner(max_depth=2)
    for piece in (b'{"a\\', b'"[[[[", "b":', b" [1]", b"}"):
        scanner.feed(piece)
    assert scanner.depth == 0
    scanner = DepthScanner(max_depth=2)
    scanner.feed(b"[[")
    with pytest.raises(JSONLimitError):
        scanner.feed(b"[")


def test_loads_bounded_parses_sane_json_and_refuses_deep_json() -> None:
    assert loads_bounded('{"a": [1, 2]}') == {"a": [1, 2]}
    loads_bounded("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    with pytest.raises(JSONLimitError, match=f"{MAX_JSON_DEPTH} levels"):
        loads_bounded("[" * DEEP + "]" * DEEP)


@pytest.mark.parametrize(
    "name,data",
    [
        ("deep.json", b"[" * DEEP + b"]" * DEEP),
        ("deep-object.json", b'{"text": "x", "meta": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}"),
        ("deep.jsonl", b'{"text": "fine"}\n' + b"[" * DEEP + b"]" * DEEP + b"\n"),
    ],
)
def test_deeply_nested_uploads_are_a_400_naming_the_limit(name: str, data: bytes) -> None:
    with pytest.raises(UnreadableDocumentError, match="JSON depth limit") as caught:
        load_bytes(data, name, IndexSettings())
    assert caught.value.status_code == 400


def test_metadata_form_field_limits_are_422() -> None:
    assert parse_metadata('{"team": "sales", "year": 2024}') == {"team": "sales", "year": 2024}
    with pytest.raises(InputLimitError, match="JSON depth limit"):
        parse_metadata('{"a": ' * 1000 + "1" + "}" * 1000)
    with pytest.raises(InputLimitError, match=f"{MAX_METADATA_CHARS}-character limit"):
        parse_metadata('{"a": "' + "x" * MAX_METADATA_CHARS + '"}')


def test_cli_meta_values_are_bounded() -> None:
    from indexer.cli import parse_meta

    assert parse_meta(["year=2024", "team=sales"]) == {"year": 2024, "team": "sales"}
    with pytest.raises(InvalidRequestError, match="JSON depth limit"):
        parse_meta(["deep=" + "[" * DEEP + "]" * DEEP])


class Body(BaseModel):
    data: object = None


@pytest.fixture()
def app_client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(body: Body) -> dict:
        return {"ok": True}

    app.add_middleware(GatewayMiddleware, max_body_bytes=2_000_000)
    return TestClient(app)


def test_deep_json_request_body_is_a_422_before_parsing(app_client: TestClient) -> None:
    ok = app_client.post("/echo", json={"data": [[["fine"]]]})
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    deep = b'{"data": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    response = app_client.post("/echo", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert "JSON depth limit" in error["message"] and error["request_id"].startswith("req-")


def test_oversized_json_body_is_a_413(app_client: TestClient) -> None:
    def pieces():
        for _ in range(30):
            yield b"[" + b"1," * 50_000 + b"1]"

    response = app_client.post("/echo", content=pieces(), headers={"content-type": "application/json"})
    assert response.status_code == 413
