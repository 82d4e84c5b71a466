"""Schemathesis over the gateway's whole OpenAPI schema: server errors at ≥ 100 examples per operation.

A gateway with an API key configured (every generated request carries it), its own one-document
index and a zero-latency stub engine (``benchmarks/stub_engine.py``; ``--engine-url`` to use a real
vLLM instead) gets ``--examples`` cases per operation, valid and schema-violating. Goal: 0 responses
with a 5xx status. Writes benchmarks/results/gateway_schema.{json,md}.

    .venv/bin/python benchmarks/bench_gateway_schema.py [--examples 100] [--engine-url URL]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import uvicorn

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
KEY = "bench-schema-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stub(model: str) -> str:
    """The stub engine in a thread; returns its URL."""
    from benchmarks.stub_engine import create_stub

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_stub(model), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def operation_check(operation, examples: int, statuses: Counter[str], failures: list[str]):
    """A hypothesis test sending ``examples`` generated cases of ``operation``, counting statuses."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=strategy)
    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case) -> None:
        response = case.call(headers=HEADERS, timeout=120)
        statuses[str(response.status_code)] += 1
        if response.status_code >= 500 and len(failures) < 5:
            failures.append(f"{response.status_code} {response.text[:300]}")

    return check


def run(url: str, examples: int) -> list[dict]:
    """Per operation: cases sent, status classes seen, and the 5xx failures."""
    import schemathesis

    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    rows = []
    for result in schema.get_all_operations():
        operation = result.ok()
        statuses: Counter[str] = Counter()
        failures: list[str] = []
        started = time.perf_counter()
        operation_check(operation, examples, statuses, failures)()
        rows.append(
            {
                "operation": operation.label,
                "cases": sum(statuses.values()),
                "statuses": dict(statuses),
                "server_errors": sum(n for code, n in statuses.items() if code.startswith("5")),
                "failures": failures,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(f"{operation.label}: {dict(statuses)}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="generated cases per operation")
    parser.add_argument("--engine-url", help="a running vLLM (default: the in-process stub engine)")
    args = parser.parse_args()

    from indexer import DocumentStore
    from ragtune import models as model_store
    from ragtune.settings import IndexSettings, Settings, get_settings
    from services.gateway.server import BackgroundGateway

    base = get_settings()
    generator = model_store.resolve(base.models.generator, base.models_dir)
    engine_url = args.engine_url or start_stub(generator.name)
    with tempfile.TemporaryDirectory() as work:
        home = Path(work)
        (home / "models").symlink_to(base.models_dir, target_is_directory=True)
        embedder = model_store.resolve(base.models.embedder, base.models_dir)
        with DocumentStore.open(home / "index", embedder, IndexSettings()) as store:
            store.add_bytes("windows.md", b"# Windows\n\nTriple-glazed windows keep a house warm in winter.")
        config = Settings(
            home=home,
            engine={"kind": "vllm", "url": engine_url},
            gateway={
                "max_tokens_limit": 4,
                "default_max_tokens": 4,
                "max_body_bytes": 100_000,
                "api_keys": {KEY: {"name": "bench", "rate_limit_per_minute": 10_000_000, "roles": ["admin"]}},
            },
        )
        started = time.perf_counter()
        with BackgroundGateway(config) as gateway:
            rows = run(gateway.url, args.examples)
    total = {
        "operations": len(rows),
        "cases": sum(r["cases"] for r in rows),
        "server_errors": sum(r["server_errors"] for r in rows),
        "min_cases_per_operation": min(r["cases"] for r in rows),
        "examples_setting": args.examples,
        "engine": "stub" if not args.engine_url else args.engine_url,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway_schema.json").write_text(json.dumps({"total": total, "operations": rows}, indent=2) + "\n")
    lines = [
        "# Schemathesis over the gateway's OpenAPI schema",
        "",
        f"{total['cases']} generated cases over {total['operations']} operations "
        f"(≥ {total['min_cases_per_operation']} each, valid and schema-violating, API key configured), "
        f"engine: {total['engine']}. **5xx responses: {total['server_errors']}** (goal 0).",
        "",
        "| operation | cases | statuses | 5xx |",
        "|---|---:|---|---:|",
    ]
    lines += [
        f"| `{r['operation']}` | {r['cases']} | "
        + ", ".join(f"{code}×{n}" for code, n in sorted(r["statuses"].items()))
        + f" | {r['server_errors']} |"
        for r in rows
    ]
    (RESULTS / "gateway_schema.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(total))
    sys.exit(1 if total["server_errors"] else 0)


if __name__ == "__main__":
    main()
