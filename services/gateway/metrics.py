"""Prometheus metrics of one gateway app (its own registry, so several apps never collide)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from services.gateway.schemas import ChatResponse

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TOKEN_KINDS = ("question", "context", "prompt", "completion")
STAGES = ("retrieval", "prompt", "ttft", "generation", "total")


class GatewayMetrics:
    """Requests, tokens by kind, latency by stage and cost, labelled by mode and adapter."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ragtune_requests", "Answered requests.", ["mode", "adapter", "route"],
                                registry=self.registry)
        self.refusals = Counter("ragtune_refusals", "Answers refused for lack of relevant context.",
                                ["mode", "adapter"], registry=self.registry)
        self.errors = Counter("ragtune_errors", "Requests that ended in an error.", ["route", "status"],
                              registry=self.registry)
        self.tokens = Counter("ragtune_tokens", "Tokens by kind.", ["mode", "adapter", "kind"],
                              registry=self.registry)
        self.latency = Histogram("ragtune_latency_seconds", "Latency by stage.", ["mode", "adapter", "stage"],
                                 buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.loops = Counter("ragtune_loops_stopped", "Answers stopped because they repeated themselves.",
                             ["mode", "adapter"], registry=self.registry)
        self.cost = Counter("ragtune_cost_usd", "Cost in USD.", ["mode", "adapter"], registry=self.registry)

    def observe(self, response: ChatResponse, route: str) -> None:
        """Record one finished answer."""
        mode, adapter = response.mode, response.adapter or ""
        self.requests.labels(mode, adapter, route).inc()
        if response.refused:
            self.refusals.labels(mode, adapter).inc()
        if response.loop_stopped:
            self.loops.labels(mode, adapter).inc()
        usage = response.usage
        for kind, value in zip(TOKEN_KINDS, (usage.question_tokens, usage.context_tokens,
                                             usage.prompt_tokens, usage.completion_tokens), strict=True):
            self.tokens.labels(mode, adapter, kind).inc(value)
        latency = response.latency_ms
        for stage in STAGES:
            self.latency.labels(mode, adapter, stage).observe(getattr(latency, stage) / 1000.0)
        self.cost.labels(mode, adapter).inc(response.cost.usd)

    def error(self, route: str, status: int) -> None:
        self.errors.labels(route, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
