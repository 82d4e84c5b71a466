"""Prometheus metrics of one gateway app (its own registry, so several apps never collide).

Where a metric means what a vLLM metric means, it has vLLM's name under the ``ragtune:`` prefix
(``ragtune:time_to_first_token_seconds``, ``ragtune:e2e_request_latency_seconds``,
``ragtune:prompt_tokens_total``, ``ragtune:generation_tokens_total``,
``ragtune:num_requests_running``), so dashboards and alerts written for vLLM carry over; the
gateway's own measures keep ``ragtune_`` names (``ragtune_requests_total`` feeds the autoscaler).

Every label set can be summed without double counting: the prompt's parts (question, retrieved
context) are their own counters rather than labels beside the whole prompt, and the stage histogram
holds only the disjoint stages of a request (retrieval, prompt building, time to first token,
generation), never their total (that is ``ragtune:e2e_request_latency_seconds``). Process metrics
(CPU, memory, open files) come from prometheus_client's process and platform collectors.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.schemas import ChatResponse

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGES = ("retrieval", "prompt", "ttft", "generation")
"""Disjoint parts of a request (they add up to about its end-to-end latency)."""
ANSWER_PATHS = frozenset({"/v1/chat", "/v1/chat/completions", "/v1/compare"})
"""The routes counted in ``ragtune:num_requests_running``."""


class GatewayMetrics:
    """Requests, tokens, latency and cost by mode and adapter; in-flight requests; process metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        labels = ["mode", "adapter"]
        self.requests = Counter("ragtune_requests", "Answered requests.", [*labels, "route"], registry=r)
        self.refusals = Counter("ragtune_refusals", "Answers refused for lack of relevant context.", labels, registry=r)
        self.errors = Counter("ragtune_errors", "Requests that ended in an error.", ["route", "status"], registry=r)
        self.prompt_tokens = Counter(
            "ragtune:prompt_tokens",
            "Prompt tokens the engine read (question, context, instructions and chat template).",
            labels,
            registry=r,
        )
        self.generation_tokens = Counter("ragtune:generation_tokens", "Generated tokens.", labels, registry=r)
        self.context_tokens = Counter(
            "ragtune:context_tokens",
            "Retrieved-context tokens (a part of ragtune:prompt_tokens_total).",
            labels,
            registry=r,
        )
        self.question_tokens = Counter(
            "ragtune:question_tokens", "Question tokens (a part of ragtune:prompt_tokens_total).", labels, registry=r
        )
        self.ttft = Histogram(
            "ragtune:time_to_first_token_seconds",
            "Time to first token, from the request's arrival at the gateway.",
            [*labels, "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.e2e = Histogram(
            "ragtune:e2e_request_latency_seconds",
            "End-to-end request latency.",
            [*labels, "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.stages = Histogram(
            "ragtune:request_stage_seconds",
            "Time per disjoint stage of a request "
            "(retrieval, prompt, ttft = engine queue + prefill, generation = decode).",
            [*labels, "stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.cost = Counter("ragtune_cost_usd", "Cost in USD.", labels, registry=r)
        self.loops = Counter(
            "ragtune_loops_stopped", "Answers stopped because they repeated themselves.", labels, registry=r
        )
        self.running = Gauge(
            "ragtune:num_requests_running",
            "Answer requests in flight (chat, OpenAI, compare), streaming ones until their last byte.",
            ["route"],
            registry=r,
        )
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    def observe(self, response: ChatResponse, route: str) -> None:
        """Record one finished answer."""
        mode, adapter = response.mode, response.adapter or ""
        self.requests.labels(mode, adapter, route).inc()
        if response.refused:
            self.refusals.labels(mode, adapter).inc()
        if response.loop_stopped:
            self.loops.labels(mode, adapter).inc()
        usage = response.usage
        self.prompt_tokens.labels(mode, adapter).inc(usage.prompt_tokens)
        self.generation_tokens.labels(mode, adapter).inc(usage.completion_tokens)
        self.context_tokens.labels(mode, adapter).inc(usage.context_tokens)
        self.question_tokens.labels(mode, adapter).inc(usage.question_tokens)
        latency = response.latency_ms
        for stage in STAGES:
            self.stages.labels(mode, adapter, stage).observe(getattr(latency, stage) / 1000.0)
        before_engine = latency.retrieval + latency.prompt
        self.ttft.labels(mode, adapter, route).observe((before_engine + latency.ttft) / 1000.0)
        self.e2e.labels(mode, adapter, route).observe(latency.total / 1000.0)
        self.cost.labels(mode, adapter).inc(response.cost.usd)

    def error(self, route: str, status: int) -> None:
        self.errors.labels(route, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class InFlightMiddleware:
    """Keeps ``ragtune:num_requests_running`` (pure ASGI: a streamed answer counts until its end)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").rstrip("/")
        state = getattr(getattr(scope.get("app"), "state", None), "gateway", None)
        if scope["type"] != "http" or path not in ANSWER_PATHS or state is None:
            await self.app(scope, receive, send)
            return
        gauge = state.metrics.running.labels(path)
        gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            gauge.dec()
