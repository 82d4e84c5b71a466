"""Context-aware training examples (retrieval-augmented fine-tuning, as in RAFT).

An adapter trained on bare questions loses its voice when the gateway puts retrieved passages in
front of the question (``hybrid``). Here every example is rebuilt the way the gateway builds a
hybrid prompt, with the same function (``ragtune.prompts.build_messages``): for each question the
``k`` chunks the company index returns, the supporting chunk among distractors, numbered ``[1]``…
``[k]``. The target keeps the brand-voice answer and cites the supporting chunk's ``[n]``. A share
of the examples (``refusal_share``, default 20 %) gets no supporting chunk: only distractors, and
the target is the refusal, in the same voice (the answer's greeting and sign-off around it).

Pure: searching is a callable (``search(question, k)`` → chunks), so tests run without an index and
``training`` never imports ``services``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ragtune import crypto
from ragtune.crypto import DataKey
from ragtune.prompts import PROMPT_TEMPLATE, ContextChunk, build_messages
from ragtune.settings import Settings
from training.records import ChatExample, DataError, Message

if TYPE_CHECKING:
    from training.pipeline import TrainRequest

DEFAULT_REFUSAL = "I don't know. The documents I can search do not cover this question, so I would rather not guess."
_WORDS = re.compile(r"[0-9a-zåäöéü]+")
_GREETING = re.compile(r"^\s*(\S+(?: \S+)?[!,])\s+")

Search = Callable[[str, int], Sequence[ContextChunk]]


class ContextOptions(BaseModel):
    """How context-aware examples are built."""

    k: int = Field(5, ge=1, le=50)
    """Chunks per prompt (the gateway's top_k)."""
    refusal_share: float = Field(0.2, ge=0.0, le=1.0)
    """Share of examples given only distractors, whose target is the refusal."""
    refusal_text: str = DEFAULT_REFUSAL
    """The gateway's refusal (``gateway.refusal_text``), put in the brand voice."""
    seed: int = 0
    min_overlap: float = Field(0.5, gt=0.0, le=1.0)
    """A chunk supports an answer when its section is the question, or it holds this share of the
    answer's words."""


class ContextReport(BaseModel):
    """What building the examples did."""

    examples: int = 0
    with_support: int = 0
    refusals: int = 0
    support_not_found: int = 0
    """Examples whose supporting chunk the index did not return (they become refusals)."""
    prompt_template: str = PROMPT_TEMPLATE


def context_messages(question: str, chunks: Sequence[ContextChunk]) -> list[Message]:
    """The prompt of a context-aware example: exactly the gateway's hybrid prompt (messages)."""
    built = build_messages(question, retrieval=True, adapter=True, chunks=chunks)
    return [Message(role=m.role, content=m.content) for m in built.messages]


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def supports(chunk: ContextChunk, question: str, answer: str, min_overlap: float = 0.5) -> bool:
    """Whether ``chunk`` answers ``question``: its section is the question, or it holds at least
    ``min_overlap`` of the answer's words."""
    if chunk.section and chunk.section.strip().lower() == question.strip().lower():
        return True
    wanted = _words(answer)
    return bool(wanted) and len(wanted & _words(chunk.text)) / len(wanted) >= min_overlap


def split_voice(answer: str) -> tuple[str, str, str]:
    """(greeting, body, sign-off) of a brand-voice answer: a short first word or two ending in ``!``
    or ``,``, and a last paragraph of at most six words; either may be ''."""
    greeting, body, sign_off = "", answer.strip(), ""
    paragraphs = body.rsplit("\n\n", 1)
    if len(paragraphs) == 2 and len(paragraphs[1].split()) <= 6:
        body, sign_off = paragraphs[0].rstrip(), paragraphs[1].strip()
    if match := _GREETING.match(body):
        greeting, body = match.group(1), body[match.end() :]
    return greeting, body, sign_off


def _join(greeting: str, body: str, sign_off: str) -> str:
    text = f"{greeting} {body}".strip()
    return f"{text}\n\n{sign_off}" if sign_off else text


def cite(answer: str, marker: int) -> str:
    """The answer with ``[marker]`` after its body's first sentence (greeting and sign-off kept)."""
    greeting, body, sign_off = split_voice(answer)
    if f"[{marker}]" in body:
        return answer
    match = re.search(r"[.!?](?=\s|$)", body)
    at = match.start() if match else len(body.rstrip())
    return _join(greeting, f"{body[:at]} [{marker}]{body[at:]}", sign_off)


def refusal(answer: str, refusal_text: str) -> str:
    """The refusal in the voice of ``answer``: its greeting and sign-off around ``refusal_text``."""
    greeting, _, sign_off = split_voice(answer)
    return _join(greeting, refusal_text, sign_off)


def build_context_examples(
    examples: Iterable[ChatExample], search: Search, options: ContextOptions | None = None
) -> tuple[list[ChatExample], ContextReport]:
    """Every single-turn example rebuilt with ``options.k`` retrieved chunks (see the module doc).

    ``search(question, n)`` returns the index's best ``n`` chunks. The supporting chunk keeps its
    retrieved rank; a refusal example gets the next-best non-supporting chunk in its place.
    Which examples become refusals is drawn with ``options.seed`` (reproducible).
    """
    options = options or ContextOptions()
    rng = random.Random(options.seed)
    report = ContextReport()
    built: list[ChatExample] = []
    for example in examples:
        users = [m for m in example.messages if m.role == "user"]
        if len(users) != 1 or example.messages[-1].role != "assistant":
            raise ValueError(f"example {example.id}: context-aware training takes one question and one answer")
        question, answer = users[0].content, example.reply
        found = list(search(question, options.k * 2))
        is_support = [supports(c, question, answer, options.min_overlap) for c in found]
        distractors = [c for c, s in zip(found, is_support, strict=True) if not s]
        refuse = rng.random() < options.refusal_share or not any(is_support)
        if not any(is_support):
            report.support_not_found += 1
        if refuse:
            chunks, target = distractors[: options.k], refusal(answer, options.refusal_text)
            report.refusals += 1
        else:
            top = found[: options.k]
            if not any(is_support[: options.k]):  # supporting chunk ranked below k: it takes the last slot
                support = found[is_support.index(True)]
                top = [c for c in top if c is not support][: options.k - 1] + [support]
            marker = next(n for n, c in enumerate(top, start=1) if supports(c, question, answer, options.min_overlap))
            chunks, target = top, cite(answer, marker)
            report.with_support += 1
        messages = [*context_messages(question, chunks), Message(role="assistant", content=target)]
        built.append(ChatExample(id=example.id, split=example.split, messages=messages))
        report.examples += 1
    return built, report


def without_entries(examples: Iterable[ChatExample], held_out: set[str]) -> list[ChatExample]:
    """The examples whose id (the FAQ entry) is not ``held_out``: no evaluated question's entry trains."""
    return [e for e in examples if e.id not in held_out]


# --- training ---------------------------------------------------------------------------------
CONTEXT_KEYS = ("context_aware", "context_embedder", "prompt_template", "context_k", "context_refusal_share")


def context_card_fields(
    options: ContextOptions, embedder: str, report: ContextReport, held_out: int
) -> dict[str, object]:
    """What an adapter card records about context-aware training (in its hyper-parameters)."""
    return {
        "context_aware": True,
        "context_embedder": embedder,
        "prompt_template": report.prompt_template,
        "context_k": options.k,
        "context_refusal_share": options.refusal_share,
        "context_refusals": report.refusals,
        "context_support_not_found": report.support_not_found,
        "held_out_entries": held_out,
    }


def is_context_aware(card: dict | None) -> bool:
    """Whether an adapter card (JSON data) says the adapter was trained with retrieved context."""
    return bool(((card or {}).get("hyperparameters") or {}).get("context_aware"))


def write_examples(examples: Sequence[ChatExample], path: Path, key: DataKey | None = None) -> Path:
    """The examples as ragtune's JSONL normal form (one object per line), encrypted under ``key``
    (``ragtune.crypto``) when given."""
    crypto.write_bytes(path, "".join(e.model_dump_json(exclude_none=True) + "\n" for e in examples), key)
    return path


def train_with_context(
    request: TrainRequest,
    settings: Settings,
    *,
    namespace: str = "default",
    options: ContextOptions | None = None,
    held_out: set[str] | None = None,
    **hooks: Any,
) -> Path:
    """Train ``request`` on context-aware examples built from the company index (``namespace``).

    Examples whose id is in ``held_out`` (FAQ entries of evaluated questions) are dropped first.
    The built examples go to ``RAGTUNE_HOME/runs/NAME-context.jsonl`` and train through the normal
    entry point (``training.pipeline.train_adapter``); the card records ``context_aware``, the
    embedder, the prompt template, k and the refusal share. Returns the adapter folder.
    """
    from ragtune.index import open_store
    from training.pipeline import train_adapter
    from training.readers import read_examples

    options = options or ContextOptions(refusal_text=settings.gateway.refusal_text, k=settings.index.top_k)
    rows, issues = read_examples(request.data)
    if issues:
        raise DataError(
            f"{request.data}: {len(issues)} unusable lines (first: line {issues[0].line}: "
            f"{issues[0].reason}); run `ragtune data prep` to see them all"
        )
    examples = without_entries((e for _, e in rows), held_out or set())
    store = open_store(settings, read_only=True)
    try:
        if not store.list_documents(namespace):
            raise DataError(
                f"the index has no documents in namespace '{namespace}': index the company "
                "documents first (`ragtune index add`)"
            )
        built, report = build_context_examples(
            examples, lambda question, n: store.search(question, k=n, namespace=namespace), options
        )
    finally:
        store.close()
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    data = write_examples(built, settings.runs_dir / f"{request.name}-context.jsonl", crypto.load_key(settings))
    extra = {
        **request.extra_hyperparameters,
        **context_card_fields(options, settings.models.embedder, report, len(held_out or ())),
    }
    train_adapter(request.model_copy(update={"data": data, "extra_hyperparameters": extra}), settings, **hooks)
    return settings.adapters_dir / request.name
