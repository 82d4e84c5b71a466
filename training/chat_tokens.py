"""Turn chat examples into token ids with the model's chat template and assistant-only labels."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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


def _ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    rendered = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    return tokenizer(rendered, add_special_tokens=False)["input_ids"]


def encode_example(example: ChatExample, tokenizer: Any, max_len: int) -> EncodedExample:
    """Token ids of the whole conversation; labels only on the assistant turns (and their end token).

    Each assistant turn's span is found by rendering the conversation up to the turn with the
    generation prompt (its start) and up to and including the turn (its end), so the masking follows
    whatever chat template the tokenizer carries. Sequences longer than ``max_len`` are cut at the end.
    """
    messages = [m.model_dump() for m in example.messages]
    full = _ids(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE_INDEX] * len(full)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_ids(tokenizer, messages[:index], add_generation_prompt=True))
        end = len(_ids(tokenizer, messages[: index + 1], add_generation_prompt=False))
        labels[start:end] = full[start:end]
    return EncodedExample(input_ids=full[:max_len], labels=labels[:max_len])


def prompt_ids(messages: list[dict[str, str]], tokenizer: Any) -> list[int]:
    """Token ids of a prompt ready for generation (template + generation prompt)."""
    return _ids(tokenizer, messages, add_generation_prompt=True)


def token_lengths(examples: list[ChatExample], tokenizer: Any) -> list[int]:
    """Templated token length of every example."""
    return [len(_ids(tokenizer, [m.model_dump() for m in e.messages], False)) for e in examples]
