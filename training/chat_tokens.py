"""Turn chat examples into token ids with the model's chat template and assistant-only labels."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ragtune.errors import RagtuneError
from training.records import ChatExample

IGNORE_INDEX = -100
"""Label value that the loss ignores (system and user tokens, the template's scaffolding)."""


class EncodedExample(BaseModel):
    input_ids: list[int]
    labels: list[int]
    """Same length as ``input_ids``; IGNORE_INDEX everywhere except the assistant replies."""

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


class TemplateError(RagtuneError):
    """The chat template cannot give assistant-only label masks (its renders are not prefixes)."""


def _render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    return tokenizer(_render(tokenizer, messages, add_generation_prompt), add_special_tokens=False)["input_ids"]


def _not_a_prefix(example_id: str, index: int, what: str) -> TemplateError:
    return TemplateError(
        f"example {example_id!r}, assistant turn {index + 1}: the chat template renders the conversation up to "
        f"this turn {what} the start of the whole conversation's render (templates that rewrite earlier turns, "
        "e.g. drop past reasoning, do this), so assistant-only label masks cannot be derived from it; use a "
        "template whose renders are prefixes of one another, or train on single-turn examples"
    )


def encode_example(example: ChatExample, tokenizer: Any, max_len: int) -> EncodedExample:
    """Token ids of the whole conversation; labels only on the assistant turns (and their end token).

    Each assistant turn's span is found by rendering the conversation up to the turn with the
    generation prompt (its start) and up to and including the turn (its end), so the masking follows
    whatever chat template the tokenizer carries. Both renders must be the start of the whole
    conversation's render; otherwise the template rewrites earlier turns and the spans would label
    the wrong tokens, so TemplateError is raised instead. The character positions are mapped to
    tokens with the tokenizer's offsets (fast tokenizers), else by tokenizing the renders, which must
    then be token prefixes too. Sequences longer than ``max_len`` are cut at the end.
    """
    messages = [m.model_dump() for m in example.messages]
    rendered = _render(tokenizer, messages, add_generation_prompt=False)
    fast = bool(getattr(tokenizer, "is_fast", False))
    encoded = tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=fast)
    full = list(encoded["input_ids"])
    starts = [begin for begin, _ in encoded["offset_mapping"]] if fast else []
    labels = [IGNORE_INDEX] * len(full)

    def boundary(upto: int, generation: bool, what: str) -> int:
        text = _render(tokenizer, messages[:upto], add_generation_prompt=generation)
        if not rendered.startswith(text):
            raise _not_a_prefix(example.id, index, what)
        if fast:
            return sum(1 for begin in starts if begin < len(text))
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if full[: len(ids)] != ids:
            raise _not_a_prefix(example.id, index, what.replace("is not", "does not tokenize as"))
        return len(ids)

    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = boundary(index, True, "with the generation prompt is not")
        end = boundary(index + 1, False, "including its reply is not")
        labels[start:end] = full[start:end]
    return EncodedExample(input_ids=full[:max_len], labels=labels[:max_len])


def prompt_ids(messages: list[dict[str, str]], tokenizer: Any) -> list[int]:
    """Token ids of a prompt ready for generation (template + generation prompt)."""
    return _ids(tokenizer, messages, add_generation_prompt=True)


def token_lengths(examples: list[ChatExample], tokenizer: Any) -> list[int]:
    """Templated token length of every example."""
    return [len(_ids(tokenizer, [m.model_dump() for m in e.messages], False)) for e in examples]
