"""Read chat examples from the common file shapes into ``ChatExample`` records.

Supported, detected per record:

* ``{"messages": [{"role", "content"}, ...]}`` (OpenAI / ragtune normal form, optional ``id``/``split``)
* ShareGPT ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}``
* Alpaca ``{"instruction", "input"?, "output"}``
* ``{"prompt", "completion"}`` (also ``question``/``answer`` and ``q``/``a``) as text, or TRL's
  conversational prompt-completion: ``prompt`` a list of system/user messages and ``completion`` a
  list of assistant messages (or text); the loss then falls on the completion only, as in TRL

Files: ``.jsonl`` (one object per line), ``.json`` (a list of objects), ``.csv`` (a header naming a
prompt and a reply column from the pairs above, or exactly two columns: prompt, reply).
JSON nesting is bounded (``ragtune.jsonlimits``): a record nested deeper than the limit is a line
issue (``.jsonl``) or a one-line ``DataError`` (``.json``), never a ``RecursionError``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragtune import crypto
from ragtune.jsonlimits import JSONLimitError, loads_bounded
from training.records import ChatExample, DataError, LineIssue, Message

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
}
PAIR_KEYS = [
    ("prompt", "completion"),
    ("question", "answer"),
    ("q", "a"),
    ("input", "output"),
    ("instruction", "response"),
]


def _role(raw: Any) -> str:
    role = ROLE_ALIASES.get(str(raw).strip().lower())
    if role is None:
        raise ValueError(f"unknown role {raw!r} (expected one of {sorted(set(ROLE_ALIASES))})")
    return role


def _pair(user: Any, reply: Any) -> list[dict[str, str]]:
    return [{"role": "user", "content": str(user)}, {"role": "assistant", "content": str(reply)}]


def _text(value: Any, key: str) -> str:
    """A text field's value; numbers are written out, anything else is refused (never its repr)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"'{key}' must be text, got {type(value).__name__}")


def _message_list(value: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        raise ValueError(f"'{key}' must be text or a non-empty list of {{role, content}} messages")
    return [{"role": _role(m.get("role")), "content": m.get("content")} for m in value]


def _conversational_pair(prompt: Any, completion: Any, prompt_key: str, reply_key: str) -> list[dict[str, Any]]:
    """TRL's conversational prompt-completion record as one conversation (reply = the completion).

    The prompt may hold system and user turns only: ragtune trains every assistant turn of a
    conversation, so an assistant turn inside the prompt would be trained on, unlike in TRL.
    """
    messages = (
        _message_list(prompt, prompt_key)
        if isinstance(prompt, list)
        else [{"role": "user", "content": _text(prompt, prompt_key)}]
    )
    if any(m["role"] == "assistant" for m in messages):
        raise ValueError(
            f"'{prompt_key}' holds an assistant turn, which would be trained on here; put the whole "
            "conversation in 'messages' instead"
        )
    replies = (
        _message_list(completion, reply_key)
        if isinstance(completion, list)
        else [{"role": "assistant", "content": _text(completion, reply_key)}]
    )
    if any(m["role"] != "assistant" for m in replies):
        raise ValueError(f"'{reply_key}' must hold assistant messages only")
    return messages + replies


def messages_from_object(obj: Any) -> list[dict[str, str]]:
    """The chat messages held by one record of any supported shape; ValueError if none fits."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        items = obj["messages"]
        if not isinstance(items, list) or not all(isinstance(m, dict) for m in items):
            raise ValueError("'messages' must be a list of {role, content} objects")
        return [{"role": _role(m.get("role")), "content": m.get("content")} for m in items]
    if "conversations" in obj:
        items = obj["conversations"]
        if not isinstance(items, list) or not all(isinstance(m, dict) for m in items):
            raise ValueError("'conversations' must be a list of {from, value} objects")
        return [
            {"role": _role(m.get("from", m.get("role"))), "content": m.get("value", m.get("content"))} for m in items
        ]
    if "instruction" in obj and "output" in obj:
        user = _text(obj["instruction"], "instruction")
        extra = obj.get("input")
        if extra:
            user = f"{user}\n\n{_text(extra, 'input')}"
        messages = _pair(user, _text(obj["output"], "output"))
        if obj.get("system"):
            messages.insert(0, {"role": "system", "content": _text(obj["system"], "system")})
        return messages
    for prompt_key, reply_key in PAIR_KEYS:
        if prompt_key in obj and reply_key in obj:
            prompt, reply = obj[prompt_key], obj[reply_key]
            if isinstance(prompt, list) or isinstance(reply, list):
                return _conversational_pair(prompt, reply, prompt_key, reply_key)
            return _pair(_text(prompt, prompt_key), _text(reply, reply_key))
    raise ValueError(
        "unrecognised record shape; expected 'messages', 'conversations', "
        "'instruction'/'output' or 'prompt'/'completion' keys, got " + ", ".join(sorted(obj)[:8])
    )


def validate_messages(messages: list[dict[str, Any]]) -> None:
    """Raise ValueError unless the conversation is usable for supervised fine-tuning."""
    if len(messages) < 2:
        raise ValueError("a conversation needs at least a user message and an assistant reply")
    for index, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, str):
            raise ValueError(f"message {index + 1} has no text content")
        if not content.strip():
            raise ValueError(f"message {index + 1} ({message['role']}) is empty")
    if messages[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant's reply")
    if not any(m["role"] == "user" for m in messages):
        raise ValueError("no user message")


def example_from_object(obj: Any, default_id: str) -> ChatExample:
    """Parse and validate one record; ValueError with a short reason when it is unusable."""
    messages = messages_from_object(obj)
    validate_messages(messages)
    record_id = str(obj.get("id") or default_id)
    split = obj.get("split") if obj.get("split") in ("train", "eval") else None
    try:
        return ChatExample(id=record_id, split=split, messages=[Message(**m) for m in messages])
    except ValidationError as err:
        raise ValueError(err.errors()[0]["msg"]) from None


def _file_text(path: Path) -> io.StringIO:
    """The file's text, decrypted when ``ragtune.crypto`` encrypted it (key from the settings)."""
    return io.StringIO(crypto.read_text(path, errors="replace"), newline="")


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any | ValueError]]:
    with _file_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, loads_bounded(line, what="this line")
            except JSONLimitError as err:
                yield number, ValueError(str(err))
            except json.JSONDecodeError as err:
                yield number, ValueError(f"invalid JSON ({err.msg} at column {err.colno})")


def _iter_json(path: Path) -> Iterator[tuple[int, Any | ValueError]]:
    try:
        data = loads_bounded(_file_text(path).getvalue(), what="the file")
    except JSONLimitError as err:
        raise DataError(f"{path}: {err}") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        raise DataError(f"{path}: a .json file must hold a list of examples")
    yield from enumerate(data, start=1)


def _csv_columns(header: list[str]) -> tuple[int, int] | None:
    lowered = [h.strip().lower() for h in header]
    for prompt_key, reply_key in PAIR_KEYS + [("instruction", "output")]:
        if prompt_key in lowered and reply_key in lowered:
            return lowered.index(prompt_key), lowered.index(reply_key)
    return None


def _iter_csv(path: Path) -> Iterator[tuple[int, Any | ValueError]]:
    with _file_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        columns = _csv_columns(header)
        if columns is None:
            if len(header) != 2:
                raise DataError(
                    f"{path}: a CSV needs a header naming prompt/completion (or question/answer) "
                    f"columns, or exactly two columns; found {len(header)} unnamed columns"
                )
            columns = (0, 1)
            # no recognised header: the first row is data
            yield 1, {"prompt": header[0], "completion": header[1]}
        prompt_col, reply_col = columns
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(prompt_col, reply_col):
                yield number, ValueError(f"expected at least {max(columns) + 1} columns, got {len(row)}")
                continue
            yield number, {"prompt": row[prompt_col], "completion": row[reply_col]}


def read_examples(path: Path) -> tuple[list[tuple[int, ChatExample]], list[LineIssue]]:
    """Every usable example of ``path`` with its line number, and the issues of the rejected ones.

    Raises DataError when the file is missing, of an unknown kind, or unreadable as a whole.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    readers = {".jsonl": _iter_jsonl, ".ndjson": _iter_jsonl, ".json": _iter_json, ".csv": _iter_csv}
    if suffix not in readers:
        raise DataError(f"{path}: unsupported file type '{suffix}' (use .jsonl, .json or .csv)")
    examples: list[tuple[int, ChatExample]] = []
    issues: list[LineIssue] = []
    for number, obj in readers[suffix](path):
        if isinstance(obj, ValueError):
            issues.append(LineIssue(line=number, reason=str(obj)))
            continue
        try:
            examples.append((number, example_from_object(obj, default_id=f"{path.stem}-{number}")))
        except (ValueError, TypeError, AttributeError) as err:
            issues.append(LineIssue(line=number, reason=str(err)))
    return examples, issues
