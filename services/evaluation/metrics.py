"""The metric maths of ``ragtune bench`` and ``ragtune eval``: pure functions on plain inputs.

Serving metrics follow vLLM's serving benchmark (``vllm.benchmarks.serve``): the same names
(``request_throughput``, ``output_throughput``, ``mean_ttft_ms``, ``median_ttft_ms``,
``p99_ttft_ms``, ``*_tpot_ms``, ``*_itl_ms``, ``*_e2el_ms``) and the same definitions (TPOT is the
time after the first token divided by the remaining output tokens; percentiles are numpy's linear
interpolation).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import numpy as np

PERCENTILES: tuple[int, ...] = (50, 90, 99)
"""The percentiles every latency summary reports (50 is reported as ``median``)."""


# --- latency and throughput ------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100, linear interpolation as numpy/vLLM); None when empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), p))


def latency_summary(values: Sequence[float], name: str) -> dict[str, float | None]:
    """``mean_{name}_ms``, ``std_{name}_ms``, ``median_{name}_ms``, ``p90_{name}_ms``, ``p99_{name}_ms``."""
    array = np.asarray(values, dtype=float)
    empty = array.size == 0
    summary: dict[str, float | None] = {
        f"mean_{name}_ms": None if empty else float(array.mean()),
        f"std_{name}_ms": None if empty else float(array.std()),
    }
    for p in PERCENTILES:
        key = f"median_{name}_ms" if p == 50 else f"p{p}_{name}_ms"
        summary[key] = percentile(array.tolist(), p)
    return summary


def time_per_output_token_ms(e2el_ms: float, ttft_ms: float, output_tokens: int) -> float | None:
    """vLLM's TPOT for one request: (latency − TTFT) / (output tokens − 1); None for ≤ 1 token."""
    if output_tokens <= 1:
        return None
    return max(e2el_ms - ttft_ms, 0.0) / (output_tokens - 1)


def serving_metrics(
    *,
    duration_s: float,
    completed: int,
    failed: int,
    output_tokens: Sequence[int],
    input_tokens: Sequence[int],
    ttft_ms: Sequence[float],
    tpot_ms: Sequence[float],
    itl_ms: Sequence[float],
    e2el_ms: Sequence[float],
) -> dict[str, float | int | None]:
    """One benchmark level's figures under vLLM's names, from the successful requests' samples."""
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    total_output = int(sum(output_tokens))
    total_input = int(sum(input_tokens))
    metrics: dict[str, float | int | None] = {
        "duration": duration_s,
        "completed": completed,
        "failed": failed,
        "total_input_tokens": total_input,
        "total_output_tokens": total_output,
        "request_throughput": completed / duration_s,
        "output_throughput": total_output / duration_s,
        "total_token_throughput": (total_input + total_output) / duration_s,
    }
    metrics.update(latency_summary(ttft_ms, "ttft"))
    metrics.update(latency_summary(tpot_ms, "tpot"))
    metrics.update(latency_summary(itl_ms, "itl"))
    metrics.update(latency_summary(e2el_ms, "e2el"))
    return metrics


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the non-None values; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


# --- text normalisation ----------------------------------------------------------------------

_DASHES = re.compile(r"[‐‑‒–—―−]")
_NON_ALNUM = re.compile(r"[^0-9a-z%åäöéü]+")


def normalize(text: str) -> str:
    """Lower-case, NFKC (``m²`` → ``m2``), unified dashes, and every other separator removed.

    Removing separators makes ``50,000`` / ``50 000`` / ``50000``, ``AB 04`` / ``AB04`` and
    ``3–6 weeks`` / ``3-6 weeks`` compare equal.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DASHES.sub("-", text)
    return _NON_ALNUM.sub("", text)


def contains_term(text: str, term: str) -> bool:
    """Whether ``term`` occurs in ``text`` after :func:`normalize` on both."""
    needle = normalize(term)
    return bool(needle) and needle in normalize(text)


def term_recall(answer: str, terms: Sequence[str]) -> float | None:
    """Share of the expected ``terms`` found in ``answer``; None when there are no terms."""
    if not terms:
        return None
    return sum(contains_term(answer, term) for term in terms) / len(terms)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖ0-9\[\"'(])|\n+")
_MARKER = re.compile(r"\[(\d+)\]")


def split_sentences(text: str, min_words: int = 3) -> list[str]:
    """Sentences of ``text`` (split on ., !, ? and new lines) with at least ``min_words`` words."""
    pieces = (piece.strip(" -*•\t") for piece in _SENTENCE_END.split(text))
    return [piece for piece in pieces if len(piece.split()) >= min_words]


def cited_markers(answer: str) -> list[int]:
    """The citation markers ``[n]`` used in ``answer``, in order of first use, without repeats."""
    seen: list[int] = []
    for match in _MARKER.finditer(answer):
        marker = int(match.group(1))
        if marker not in seen:
            seen.append(marker)
    return seen


# --- retrieval -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return normalize(text.replace("_", "-"))


def matches_doc(fields: Iterable[str | None], gold_doc: str) -> bool:
    """Whether a retrieved chunk belongs to ``gold_doc``: its slug equals or appears in one of the
    chunk's identifying fields (doc id, source path, title, section)."""
    gold = _slug(gold_doc)
    if not gold:
        return False
    for field in fields:
        if not field:
            continue
        if "/" in field or "\\" in field:  # a path or URL: only its file name counts
            field = field.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if gold in _slug(field):
            return True
    return False


def supports(chunk_text: str, support: str, min_words: int = 6) -> bool:
    """Whether ``chunk_text`` contains the supporting text: the whole of it, or at least one of its
    sentences with ``min_words`` or more words (chunks may split a long answer)."""
    chunk = normalize(chunk_text)
    if not chunk or not support.strip():
        return False
    if normalize(support) in chunk:
        return True
    sentences = split_sentences(support, min_words=min_words) or [support]
    return any(normalize(sentence) in chunk for sentence in sentences)


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, None when none is relevant."""
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            return rank
    return None


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    """1.0 when a relevant result is among the first ``k``, else 0.0."""
    if k < 1:
        raise ValueError("k must be at least 1")
    return 1.0 if any(relevant[:k]) else 0.0


def reciprocal_rank(relevant: Sequence[bool], k: int | None = None) -> float:
    """1 / rank of the first relevant result (within the first ``k`` if given), else 0."""
    rank = first_relevant_rank(relevant if k is None else relevant[:k])
    return 0.0 if rank is None else 1.0 / rank


# --- answers ---------------------------------------------------------------------------------

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bi (?:do not|don't|dont) know\b",
    r"\bi (?:do not|don't) have (?:any |enough )?(?:information|details|data)\b",
    r"\b(?:cannot|can't|can not|could not|couldn't|unable to) (?:find|answer|help with|provide)\b",
    r"\bno (?:relevant )?information\b",
    r"\bnot (?:covered|mentioned|found|available) in (?:the|our|my) (?:documents?|sources?|context|information)\b",
    r"\b(?:the|our) (?:documents?|sources?|context) (?:do(?:es)? not|don't|doesn't) (?:contain|mention|cover|say)\b",
    r"\bi'?m not (?:sure|able to)\b",
    r"\boutside (?:of )?(?:my|our) (?:knowledge|scope|expertise)\b",
)
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)


def is_refusal(answer: str, refused_flag: bool | None = None) -> bool:
    """Whether an answer declines to answer: the gateway's own flag when it sends one, else the
    common phrasings of "I don't know" (:data:`REFUSAL_PATTERNS`) in the answer."""
    if refused_flag:
        return True
    return bool(_REFUSAL.search(answer.replace("’", "'")))


def groundedness(
    answer: str,
    evidence: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    threshold: float = 0.6,
) -> float | None:
    """Share of the answer's sentences supported by the evidence chunks.

    A sentence is supported when its embedding's cosine similarity with some evidence sentence or
    chunk is at least ``threshold``. ``embed`` returns L2-normalised row vectors (e.g. a
    sentence-transformers model with ``normalize_embeddings=True``). None when the answer has no
    sentence or there is no evidence to check against.
    """
    sentences = split_sentences(_MARKER.sub("", answer))
    if not sentences or not evidence:
        return None
    units: list[str] = []
    for chunk in evidence:
        units.append(chunk)
        units.extend(split_sentences(chunk))
    vectors = embed(sentences + units)
    answer_vectors, evidence_vectors = vectors[: len(sentences)], vectors[len(sentences) :]
    similarity = answer_vectors @ evidence_vectors.T
    return float((similarity.max(axis=1) >= threshold).mean())
