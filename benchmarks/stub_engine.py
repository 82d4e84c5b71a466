"""A zero-latency (or paced) OpenAI-compatible chat server for measuring what the gateway adds.

It answers every streamed chat completion with ``max_tokens`` one-word chunks and exact usage, the
way vLLM streams (role on the first chunk, usage in the last; an async generator, as vLLM's
server, not a sync one that Starlette would step through a worker thread per chunk), at once or
paced by ``--ttft-ms`` / ``--itl-ms`` like a real engine's decoding, so timing the same
requests sent to it directly and through ``ragtune serve --engine-url`` isolates the gateway's own
latency from the engine's run-to-run noise (a CPU engine varies by ±5-15 % between rounds, far more
than the milliseconds being measured). Only for benchmarks: tests use the real engines.

    .venv/bin/python benchmarks/stub_engine.py --port 8011 [--model smollm2-135m-instruct] [--itl-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse


async def pace(started: float, at_ms: float) -> None:
    """Sleep until ``at_ms`` after ``started`` (deadlines, so timer rounding does not add up)."""
    delay = started + at_ms / 1000 - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def create_stub(model: str, ttft_ms: float = 0.0, itl_ms: float = 0.0) -> FastAPI:
    """The stub app; ``ttft_ms`` before the first chunk and ``itl_ms`` between chunks (0: at once)."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict:
        return {}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model, "object": "model", "root": model}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> StreamingResponse:
        body = await request.json()
        tokens = int(body.get("max_tokens") or 16)
        prompt = sum(len(m.get("content", "").split()) for m in body["messages"])
        head = {"id": "stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def chunk(delta: dict, finish: str | None = None, **extra: object) -> str:
            return (
                "data: "
                + json.dumps({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})
                + "\n\n"
            )

        async def stream():
            started = time.perf_counter()
            await pace(started, ttft_ms)
            yield chunk({"role": "assistant", "content": "word"})
            for i in range(1, tokens):
                await pace(started, ttft_ms + i * itl_ms)
                yield chunk({"content": " word"})
            yield chunk({}, "length")
            usage = {"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens}
            yield "data: " + json.dumps({**head, "choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="wait before the first token")
    parser.add_argument("--itl-ms", type=float, default=0.0, help="wait between tokens")
    args = parser.parse_args()
    uvicorn.run(
        create_stub(args.model, args.ttft_ms, args.itl_ms), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
