"""HTTP load driver: sends questions to the gateway (or straight to the engine) at a fixed
concurrency and records, per request, client-side time to first token from the SSE stream,
inter-token latencies, end-to-end latency and the gateway's own accounting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from pydantic import BaseModel, Field

from services.evaluation import metrics


class RequestSample(BaseModel):
    """What one request measured (client side) and reported (server side)."""

    ok: bool
    error: str | None = None
    status: int | None = None
    ttft_ms: float | None = None
    e2el_ms: float | None = None
    itl_ms: list[float] = Field(default_factory=list)
    output_tokens: int = 0
    question_tokens: int = 0
    context_tokens: int = 0
    prompt_tokens: int = 0
    cost_usd: float = 0.0
    input_usd: float = 0.0
    output_usd: float = 0.0
    server_latency_ms: dict[str, float] = Field(default_factory=dict)
    mode: str | None = None
    """The mode the gateway reports it used (``auto`` resolves to one)."""
    adapter: str | None = None

    @property
    def tpot_ms(self) -> float | None:
        if self.e2el_ms is None or self.ttft_ms is None:
            return None
        return metrics.time_per_output_token_ms(self.e2el_ms, self.ttft_ms, self.output_tokens)


class _TokenClock:
    """Client-side timing of one stream: TTFT at the first text, then the gaps between texts."""

    def __init__(self, sample: RequestSample) -> None:
        self.sample = sample
        self.start = time.perf_counter()
        self.last: float | None = None

    def text_arrived(self) -> None:
        now = time.perf_counter()
        if self.last is None:
            self.sample.ttft_ms = (now - self.start) * 1000.0
        else:
            self.sample.itl_ms.append((now - self.last) * 1000.0)
        self.last = now

    def stream_ended(self) -> None:
        self.sample.e2el_ms = (time.perf_counter() - self.start) * 1000.0


class LevelResult(BaseModel):
    """One group of requests (a mode/adapter/target at one concurrency)."""

    name: str
    target: str = "gateway"
    """``gateway`` or ``engine`` (the engine alone, for the gateway-overhead comparison)."""
    mode: str | None = None
    adapter: str | None = None
    concurrency: int
    duration_s: float
    samples: list[RequestSample]

    def summary(self) -> dict[str, Any]:
        """vLLM-named serving metrics plus tokens by kind and cost per query."""
        good = [s for s in self.samples if s.ok]
        figures = metrics.serving_metrics(
            duration_s=self.duration_s,
            completed=len(good),
            failed=len(self.samples) - len(good),
            output_tokens=[s.output_tokens for s in good],
            input_tokens=[s.prompt_tokens for s in good],
            ttft_ms=[s.ttft_ms for s in good if s.ttft_ms is not None],
            tpot_ms=[t for t in (s.tpot_ms for s in good) if t is not None],
            itl_ms=[gap for s in good for gap in s.itl_ms],
            e2el_ms=[s.e2el_ms for s in good if s.e2el_ms is not None],
        )
        per_query = {
            "question_tokens_per_query": metrics.mean(s.question_tokens for s in good),
            "context_tokens_per_query": metrics.mean(s.context_tokens for s in good),
            "prompt_tokens_per_query": metrics.mean(s.prompt_tokens for s in good),
            "completion_tokens_per_query": metrics.mean(s.output_tokens for s in good),
            "usd_per_query": metrics.mean(s.cost_usd for s in good),
            "input_usd_per_query": metrics.mean(s.input_usd for s in good),
            "output_usd_per_query": metrics.mean(s.output_usd for s in good),
        }
        usd = per_query["usd_per_query"]
        per_query["usd_per_1k_queries"] = None if usd is None else usd * 1000.0
        for stage in ("retrieval", "prompt", "ttft", "generation", "total"):
            per_query[f"server_{stage}_ms_median"] = metrics.percentile(
                [s.server_latency_ms[stage] for s in good if stage in s.server_latency_ms], 50
            )
        errors = sorted({s.error for s in self.samples if s.error})
        return {
            "name": self.name,
            "target": self.target,
            "mode": self.mode,
            "adapter": self.adapter,
            "concurrency": self.concurrency,
            **figures,
            **per_query,
            "errors": errors,
        }


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def _sse_events(response: httpx.Response) -> AsyncIterator[Any]:
    """The JSON payloads of a server-sent event stream; stops at ``[DONE]``."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        if payload:
            try:
                yield json.loads(payload)
            except json.JSONDecodeError:
                continue


def _error_text(body: bytes, status: int) -> str:
    try:
        error = json.loads(body).get("error", {})
        message = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    return f"HTTP {status}: {message}"


def _apply_final(sample: RequestSample, final: dict[str, Any]) -> None:
    """Copy the gateway's accounting (usage, cost, latency, mode) from a /v1/chat response."""
    usage = final.get("usage") or {}
    cost = final.get("cost") or {}
    sample.output_tokens = int(usage.get("completion_tokens") or sample.output_tokens)
    sample.question_tokens = int(usage.get("question_tokens") or 0)
    sample.context_tokens = int(usage.get("context_tokens") or 0)
    sample.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    sample.cost_usd = float(cost.get("usd") or 0.0)
    sample.input_usd = float(cost.get("input_usd") or 0.0)
    sample.output_usd = float(cost.get("output_usd") or 0.0)
    sample.server_latency_ms = {
        k: float(v) for k, v in (final.get("latency_ms") or {}).items() if isinstance(v, int | float)
    }
    sample.mode = final.get("mode")
    sample.adapter = final.get("adapter")


async def stream_gateway_chat(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> RequestSample:
    """One streamed ``POST /v1/chat``: client-side TTFT/ITL/latency plus the final accounting."""
    sample = RequestSample(ok=False)
    clock = _TokenClock(sample)
    final: dict[str, Any] | None = None
    try:
        async with client.stream("POST", f"{url}/v1/chat", json={**body, "stream": True}, headers=headers) as response:
            sample.status = response.status_code
            if response.status_code >= 400:
                sample.error = _error_text(await response.aread(), response.status_code)
                return sample
            async for event in _sse_events(response):
                if not isinstance(event, dict):
                    continue
                if "error" in event:
                    error = event["error"]
                    sample.error = str(error.get("message") if isinstance(error, dict) else error)
                    return sample
                delta = event.get("delta")
                if isinstance(delta, str) and delta:
                    clock.text_arrived()
                if "usage" in event and "answer" in event:
                    final = event
                elif isinstance(event.get("response"), dict):
                    final = event["response"]
    except httpx.HTTPError as err:
        sample.error = f"{type(err).__name__}: {err}"
        return sample
    clock.stream_ended()
    if final is None:
        sample.error = "stream ended without the final response event"
        return sample
    _apply_final(sample, final)
    if sample.ttft_ms is None:  # a refusal or empty answer arrives whole with the final event
        sample.ttft_ms = sample.e2el_ms
    sample.ok = True
    return sample


async def stream_engine_chat(
    client: httpx.AsyncClient,
    url: str,
    model: str,
    question: str,
    max_tokens: int,
    repetition_penalty: float = 1.0,
    headers: dict[str, str] | None = None,
) -> RequestSample:
    """One streamed OpenAI chat completion sent straight to the engine (no gateway)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "repetition_penalty": repetition_penalty,
    }
    sample = RequestSample(ok=False, mode="engine")
    clock = _TokenClock(sample)
    try:
        async with client.stream(
            "POST", f"{url.rstrip('/')}/v1/chat/completions", json=body, headers=headers
        ) as response:
            sample.status = response.status_code
            if response.status_code >= 400:
                sample.error = _error_text(await response.aread(), response.status_code)
                return sample
            async for event in _sse_events(response):
                for choice in event.get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        clock.text_arrived()
                usage = event.get("usage")
                if usage:
                    sample.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    sample.output_tokens = int(usage.get("completion_tokens") or 0)
    except httpx.HTTPError as err:
        sample.error = f"{type(err).__name__}: {err}"
        return sample
    clock.stream_ended()
    if sample.ttft_ms is None:
        sample.ttft_ms = sample.e2el_ms
    sample.ok = True
    return sample


async def post_gateway_chat(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """One non-streamed ``POST /v1/chat``: (response JSON, None) or (None, error text)."""
    try:
        response = await client.post(f"{url}/v1/chat", json={**body, "stream": False}, headers=headers)
    except httpx.HTTPError as err:
        return None, f"{type(err).__name__}: {err}"
    if response.status_code >= 400:
        return None, _error_text(response.content, response.status_code)
    return response.json(), None


async def run_level(jobs: Sequence[Any], concurrency: int) -> tuple[list[RequestSample], float]:
    """Run coroutine factories ``jobs`` (each ``() -> Awaitable[RequestSample]``) with at most
    ``concurrency`` in flight; returns the samples in job order and the wall-clock duration."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(job: Any) -> RequestSample:
        async with semaphore:
            return await job()

    start = time.perf_counter()
    samples = await asyncio.gather(*(guarded(job) for job in jobs))
    return list(samples), time.perf_counter() - start


def client(concurrency: int, timeout_s: float) -> httpx.AsyncClient:
    """An HTTP client sized for ``concurrency`` parallel streams."""
    limits = httpx.Limits(max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1) + 2)
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0), limits=limits)
