"""Test doubles for the parts that need a model: an engine, an index and a token counter.

``FakeEngine`` implements the ``services.engines.base.Engine`` protocol in full; it answers with a
scripted text per model, counts words as tokens and reports fixed timings, so the answer flow can be
unit-tested for every mode (planning, refusal, citations, usage, cost, compare deltas).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from indexer.schemas import SearchHit
from services.engines.base import (
    AdapterExistsError,
    AdapterInfo,
    AdapterNotFoundError,
    EngineDescription,
    EngineHealth,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
    collect_result,
)
from services.gateway.schemas import ChatResponse, Cost, Latency, Usage

TTFT_MS = 20.0
TOTAL_MS = 50.0


def words(text: str) -> int:
    """The fakes' token count: whitespace-separated words."""
    return len(text.split())


class FakeEngine:
    """An Engine that answers ``answers[model]`` (model: an adapter name or the base model name),
    default ``"answer from MODEL [1]"``; prompt tokens are the prompt's words, completion tokens the
    answer's words, TTFT 20 ms and total 50 ms. Every request is kept in ``requests``."""

    kind = "fake"

    def __init__(
        self, *, base_model: str = "fake-base", adapters: tuple[str, ...] = (), answers: dict[str, str] | None = None
    ) -> None:
        self.base_model = base_model
        self._adapters = {name: Path(f"/adapters/{name}") for name in adapters}
        self.answers = dict(answers or {})
        self.requests: list[GenerationRequest] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def alive(self) -> bool:
        return self.started

    def describe(self) -> EngineDescription:
        return EngineDescription(kind=self.kind, detail=None if self.started else "not started")

    async def health(self) -> EngineHealth:
        return EngineHealth(
            kind=self.kind, ready=self.started, base_model=self.base_model, adapters=sorted(self._adapters)
        )

    def answer_for(self, request: GenerationRequest) -> str:
        model = request.adapter or self.base_model
        return self.answers.get(model, f"answer from {model} [1]")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        if request.adapter is not None and request.adapter not in self._adapters:
            raise AdapterNotFoundError(f"unknown adapter '{request.adapter}'")
        self.requests.append(request)
        text = self.answer_for(request)
        for piece in text.split(" "):
            yield StreamDelta(text=piece + " ")
        yield GenerationResult(
            text=text,
            prompt_tokens=sum(words(m.content) for m in request.messages),
            completion_tokens=words(text),
            finish_reason="stop",
            ttft_ms=TTFT_MS,
            total_ms=TOTAL_MS,
        )

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return await collect_result(self.stream(request))

    async def load_adapter(self, name: str, path: Path) -> None:
        if name in self._adapters:
            raise AdapterExistsError(f"adapter '{name}' is already loaded")
        self._adapters[name] = Path(path)

    async def unload_adapter(self, name: str) -> None:
        if self._adapters.pop(name, None) is None:
            raise AdapterNotFoundError(f"adapter '{name}' is not loaded")

    def adapters(self) -> list[AdapterInfo]:
        return [AdapterInfo(name=name, path=str(path)) for name, path in sorted(self._adapters.items())]


def hit(n: int, text: str, dense_score: float = 0.8) -> SearchHit:
    """A retrieved chunk of document ``doc-n``."""
    return SearchHit(
        doc_id=f"doc-{n}",
        chunk_id=f"doc-{n}:0",
        title=f"Title {n}",
        section=f"Section {n}",
        source=f"docs/{n}.md",
        text=text,
        score=dense_score,
        dense_score=dense_score,
    )


class FakeIndex:
    """What the answer pipeline searches: fixed hits for every question (``searches`` counts calls)."""

    def __init__(self, hits: list[SearchHit] | Callable[[str], list[SearchHit]] = ()) -> None:
        self._hits = hits
        self.searches: list[tuple[str, int, str]] = []

    async def search(self, query: str, *, k: int, namespace: str) -> list[SearchHit]:
        self.searches.append((query, k, namespace))
        hits = self._hits(query) if callable(self._hits) else list(self._hits)
        return hits[:k]


class WordCounter:
    """A TokenCounter that counts words (the fakes' tokens)."""

    def count(self, text: str) -> int:
        return words(text)


def chat_response(request_id: str, mode: str = "rag", adapter: str | None = None, usd: float = 1e-6) -> ChatResponse:
    """A gateway answer as the request log records it: fixed usage and latency, costing ``usd``."""
    return ChatResponse(
        id=request_id,
        mode=mode,
        adapter=adapter,
        answer="a",
        citations=[],
        usage=Usage(question_tokens=2, context_tokens=5, prompt_tokens=20, completion_tokens=4, total_tokens=24),
        latency_ms=Latency(retrieval=5, prompt=1, ttft=50, generation=100, total=160),
        cost=Cost(usd=usd, input_usd=usd * 0.4, output_usd=usd * 0.6, price_source="self_hosted"),
        requested_mode=mode,
        model="m",
    )
