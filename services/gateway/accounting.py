"""Tokens by kind, latency by stage and the cost of one answer.

Question and context tokens are counted with the generator's own tokenizer; prompt and completion
tokens are the engine's exact counts. Cost uses a configured price per 1M tokens for the model or
adapter when there is one, else the self-hosted estimate: engine seconds × the machine's $/hour.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from ragtune.settings import PriceSettings
from services.gateway.schemas import Cost, Usage

SELF_HOSTED = "self_hosted"


class Tokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


class TokenCounter:
    """Counts tokens of plain text (no special tokens) with the generator's tokenizer."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> TokenCounter:
        """Load the (fast) tokenizer of the generator folder."""
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(model_dir)))

    def count(self, text: str) -> int:
        """Number of tokens in ``text``; 0 for the empty string."""
        if not text:
            return 0
        return len(self._tokenizer.encode(text, add_special_tokens=False))


def make_usage(*, question_tokens: int, context_tokens: int, prompt_tokens: int, completion_tokens: int) -> Usage:
    """Usage by kind; ``total_tokens`` is what the engine processed (prompt + completion)."""
    return Usage(
        question_tokens=question_tokens,
        context_tokens=context_tokens,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


def compute_cost(
    prices: PriceSettings,
    *,
    model_names: list[str],
    prompt_tokens: int,
    completion_tokens: int,
    prefill_ms: float,
    decode_ms: float,
) -> Cost:
    """The cost of one generation.

    ``model_names`` are looked up in ``prices.per_model`` in order (adapter first, then base); the
    first configured one prices tokens. Otherwise the engine time is billed at ``usd_per_hour``:
    time to first token as input, the rest as output.
    """
    for name in model_names:
        if name and name in prices.per_model:
            per_input, per_output = prices.per_model[name]
            input_usd = prompt_tokens * per_input / 1e6
            output_usd = completion_tokens * per_output / 1e6
            return Cost(
                usd=input_usd + output_usd, input_usd=input_usd, output_usd=output_usd, price_source=f"per_model:{name}"
            )
    per_ms = prices.usd_per_hour / 3_600_000.0
    input_usd = max(prefill_ms, 0.0) * per_ms
    output_usd = max(decode_ms, 0.0) * per_ms
    return Cost(usd=input_usd + output_usd, input_usd=input_usd, output_usd=output_usd, price_source=SELF_HOSTED)


class Stopwatch:
    """Milliseconds since creation, from a monotonic clock."""

    def __init__(self, start: float | None = None) -> None:
        self._start = time.perf_counter() if start is None else start
        """A ``time.perf_counter()`` value (default: now)."""

    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0


def round_ms(value: float) -> float:
    """Latencies are reported to the microsecond."""
    return round(value, 3)
