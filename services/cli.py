"""CLI commands of `services`: ``serve`` the gateway and the ``ask`` / ``compare`` / ``kpi`` clients."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from ragtune.console import console
from ragtune.errors import RagtuneError
from ragtune.settings import get_settings
from services.modes import Mode

MODE_CHOICES = ", ".join(Mode)
ADAPTER_MODES = " and ".join(m for m in Mode.answer_modes() if m.uses_adapter)


def default_url() -> str:
    """The gateway URL from the settings (``RAGTUNE_GATEWAY__HOST``/``__PORT``)."""
    from services.gateway.server import gateway_url
    from services.gateway.tls import scheme

    gateway = get_settings().gateway
    host = "127.0.0.1" if gateway.host in ("0.0.0.0", "::") else gateway.host
    return gateway_url(host, gateway.port, scheme(gateway))


def call_gateway(
    method: str, url: str, path: str, *, api_key: str | None, payload: dict | None = None, timeout_s: float = 600.0
) -> Any:
    """One JSON call to the gateway; errors become a RagtuneError with the gateway's message."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.request(method, url.rstrip("/") + path, json=payload, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise RagtuneError(
            f"cannot reach the gateway at {url} ({type(exc).__name__}); start it with `ragtune serve` or pass --url"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:200]}}
    if response.status_code >= 400:
        message = body.get("error", {}).get("message", response.reason_phrase) if isinstance(body, dict) else body
        raise RagtuneError(f"gateway answered {response.status_code}: {message}")
    return body


def print_answer(result: dict) -> None:
    """A readable answer: text, sources, then usage, latency and cost."""
    from rich.markup import escape
    from rich.table import Table

    adapter = f" · adapter {result['adapter']}" if result.get("adapter") else ""
    asked = " (auto)" if result.get("requested_mode") == "auto" else ""
    console.print(f"[bold]{result['mode']}{asked}{adapter}[/]  [dim]{result['id']}[/]")
    print(result["answer"])
    if result.get("citations"):
        table = Table("#", "title", "source", "score", title="sources", title_justify="left")
        for c in result["citations"]:
            mark = f"[{c['marker']}]" + ("*" if c.get("cited") else "")
            table.add_row(
                escape(mark), escape(c.get("title") or c["doc_id"]), escape(c.get("source") or ""), f"{c['score']:.3f}"
            )
        console.print(table)
    u, t, c = result["usage"], result["latency_ms"], result["cost"]
    console.print(
        f"[dim]tokens: question {u['question_tokens']}, context {u['context_tokens']}, prompt "
        f"{u['prompt_tokens']}, completion {u['completion_tokens']} · latency ms: retrieval "
        f"{t['retrieval']:.0f}, prompt {t['prompt']:.1f}, ttft {t['ttft']:.0f}, generation "
        f"{t['generation']:.0f}, total {t['total']:.0f} · cost ${c['usd']:.8f} ({c['price_source']})[/]"
    )


def print_compare(result: dict) -> None:
    from rich.table import Table

    table = Table(
        "mode",
        "adapter",
        "prompt tok",
        "compl. tok",
        "ttft ms",
        "total ms",
        "cost $",
        "Δ tokens",
        "Δ ms",
        "Δ $",
        title=f"compare: {result['question']}",
        title_justify="left",
    )
    deltas = result.get("deltas", {})
    for r in result["results"]:
        d = deltas.get(r["mode"])
        table.add_row(
            r["mode"],
            r.get("adapter") or "-",
            str(r["usage"]["prompt_tokens"]),
            str(r["usage"]["completion_tokens"]),
            f"{r['latency_ms']['ttft']:.0f}",
            f"{r['latency_ms']['total']:.0f}",
            f"{r['cost']['usd']:.8f}",
            f"{d['total_tokens']:+d}" if d else "",
            f"{d['latency_ms']:+.0f}" if d else "",
            f"{d['cost_usd']:+.8f}" if d else "",
        )
    console.print(table)
    for r in result["results"]:
        console.print(f"[bold]{r['mode']}[/]: {r['answer']}", markup=True, highlight=False)
    for mode, why in result.get("skipped", {}).items():
        console.print(f"[yellow]{mode} skipped:[/] {why}")


URL_OPTION = typer.Option(None, "--url", help="Gateway URL (default: from the settings).")
KEY_OPTION = typer.Option(None, "--api-key", envvar="RAGTUNE_API_KEY", help="API key, if the gateway has keys.")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""

    @app.command("serve")
    def serve_command(
        host: str = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
        port: int = typer.Option(None, "--port", help="Port (default 8000)."),
        engine: str = typer.Option(None, "--engine", help="vllm (default) or local."),
        engine_url: str = typer.Option(None, "--engine-url", help="Use an external vLLM server at this URL."),
        tls_cert: Path = typer.Option(None, "--tls-cert", help="Serve HTTPS with this PEM certificate (chain)."),
        tls_key: Path = typer.Option(None, "--tls-key", help="The PEM private key of --tls-cert."),
    ) -> None:
        """Serve the gateway: the engine, the index in RAGTUNE_HOME/index and every adapter found."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if engine is not None and engine not in ("vllm", "local"):
            raise RagtuneError(f"--engine must be 'vllm' or 'local', not '{engine}'")
        from services.gateway.server import serve, with_overrides

        settings = with_overrides(
            get_settings(), engine_kind=engine, engine_url=engine_url, tls_cert=tls_cert, tls_key=tls_key
        )
        serve(settings, host=host, port=port)

    @app.command("ask")
    def ask_command(
        question: str = typer.Argument(..., help="The question."),
        mode: str = typer.Option(Mode.AUTO.value, "--mode", "-m", help=f"One of {MODE_CHOICES}."),
        adapter: str = typer.Option(None, "--adapter", "-a", help=f"Adapter for {ADAPTER_MODES}."),
        top_k: int = typer.Option(None, "--top-k", "-k", help="Chunks to retrieve."),
        namespace: str = typer.Option(None, "--namespace", help="Index namespace (default: default)."),
        max_tokens: int = typer.Option(None, "--max-tokens", help="Longest answer in tokens."),
        url: str = URL_OPTION,
        api_key: str = KEY_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print the gateway's JSON response."),
    ) -> None:
        """Ask the running gateway one question; prints the answer, its sources, tokens, latency, cost."""
        if mode not in list(Mode):
            raise RagtuneError(f"--mode must be one of {MODE_CHOICES}, not '{mode}'")
        payload = {
            k: v
            for k, v in {
                "question": question,
                "mode": mode,
                "adapter": adapter,
                "top_k": top_k,
                "namespace": namespace,
                "max_tokens": max_tokens,
            }.items()
            if v is not None
        }
        result = call_gateway("POST", url or default_url(), "/v1/chat", api_key=api_key, payload=payload)
        if as_json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print_answer(result)

    @app.command("compare")
    def compare_command(
        question: str = typer.Argument(..., help="The question."),
        modes: str = typer.Option(None, "--modes", help="Comma-separated modes (default: every answer mode)."),
        adapter: str = typer.Option(None, "--adapter", "-a", help=f"Adapter for {ADAPTER_MODES}."),
        max_tokens: int = typer.Option(None, "--max-tokens", help="Longest answer in tokens."),
        url: str = URL_OPTION,
        api_key: str = KEY_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print the gateway's JSON response."),
    ) -> None:
        """Answer one question in every answer mode side by side, with token/latency/cost deltas."""
        payload: dict[str, Any] = {"question": question}
        if modes:
            payload["modes"] = [Mode.parse(m.strip(), answer_only=True) for m in modes.split(",") if m.strip()]
        if adapter:
            payload["adapter"] = adapter
        if max_tokens:
            payload["max_tokens"] = max_tokens
        result = call_gateway("POST", url or default_url(), "/v1/compare", api_key=api_key, payload=payload)
        if as_json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print_compare(result)

    @app.command("kpi")
    def kpi_command(
        url: str = URL_OPTION,
        api_key: str = KEY_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        by: str = typer.Option(None, "--by", help="Also the trend by UTC 'day' or 'week'."),
        group: str = typer.Option(
            "mode,adapter", "--group", help="Split the trend by mode, adapter, tenant (comma-separated; 'none')."
        ),
        since: str = typer.Option(None, "--since", help="Trend from this day on (YYYY-MM-DD, UTC)."),
    ) -> None:
        """Feedback KPIs: share of answers rated good and resolved without a human, per mode and adapter;
        with --by day|week the trend (also handling time and cost per resolved question)."""
        from urllib.parse import urlencode

        from rich.table import Table

        from services.rating_cli import print_kpi_trend

        if by is not None and by not in ("day", "week"):
            raise RagtuneError(f"unknown --by '{by}'; choose from day, week")
        query = {"period": by, "group": group, "since": since} if by else {}
        path = "/v1/kpi" + (f"?{urlencode({k: v for k, v in query.items() if v})}" if query else "")
        result = call_gateway("GET", url or default_url(), path, api_key=api_key)
        if as_json:
            print(json.dumps(result, indent=2))
            return
        if by:
            print_kpi_trend(result)

        def share(value: float | None) -> str:
            return "-" if value is None else f"{value:.0%}"

        table = Table(
            "mode", "adapter", "requests", "rated", "good", "resolved", title="feedback KPIs", title_justify="left"
        )
        for row in result["by_mode_adapter"]:
            table.add_row(
                row["mode"],
                row["adapter"] or "-",
                str(row["requests"]),
                str(row["rated"]),
                share(row["good_share"]),
                share(row["resolved_share"]),
            )
        table.add_row(
            "all",
            "",
            str(result["requests"]),
            str(result["rated"]),
            share(result["good_share"]),
            share(result["resolved_share"]),
        )
        console.print(table)
