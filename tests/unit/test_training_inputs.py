"""Input honesty: TRL conversational prompt-completion records, values that are not text, and chat
templates whose renders are not prefixes of one another (no model: a small real tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.chat_tokens import IGNORE_INDEX, TemplateError, encode_example
from training.readers import read_examples
from training.records import ChatExample, Message

pytestmark = pytest.mark.unit

CHATML = (
    "{% for m in messages %}<s> {{ m.role }} {{ m.content }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant {% endif %}"
)
REWRITING = "turns {{ messages|length }} " + CHATML
"""Starts with the number of turns, so the render of a conversation's beginning is not its start."""


def _tokenizer(template: str):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [
        "[UNK]",
        "<s>",
        "</s>",
        "turns",
        "system",
        "user",
        "assistant",
        "Hej!",
        "What",
        "is",
        "a",
        "bygglov?",
        "A",
        "permit.",
        "Thanks",
        "More?",
        "Yes.",
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", eos_token="</s>")
    tokenizer.chat_template = template
    return tokenizer


def _write(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_trl_conversational_prompt_completion_is_one_conversation(tmp_path: Path) -> None:
    record = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a bygglov?"}],
        "completion": [{"role": "assistant", "content": "Hej! A building permit."}],
    }
    ((line, example),) = read_examples(_write(tmp_path, record))[0]
    assert line == 1
    assert [(m.role, m.content) for m in example.messages] == [
        ("system", "Be brief."),
        ("user", "What is a bygglov?"),
        ("assistant", "Hej! A building permit."),
    ]
    assert "{'role'" not in example.text()  # never the Python repr of the lists


def test_bad_prompt_completion_records_are_refused_by_line(tmp_path: Path) -> None:
    records = [
        {
            "prompt": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
            "completion": [{"role": "assistant", "content": "B"}],
        },
        {"prompt": [{"role": "user", "content": "Q"}], "completion": [{"role": "user", "content": "B"}]},
        {"prompt": [], "completion": "B"},
        {"prompt": {"text": "Q"}, "completion": "B"},
        {"question": ["Q"], "answer": "A"},
        {"instruction": "Do it", "output": {"text": "done"}},
        {"prompt": [{"role": "user", "content": "Q"}], "completion": "Hej! Yes."},
    ]
    examples, issues = read_examples(_write(tmp_path, *records))
    reasons = {issue.line: issue.reason for issue in issues}
    assert "assistant turn" in reasons[1]
    assert "assistant messages only" in reasons[2]
    assert "non-empty list" in reasons[3]
    assert "must be text" in reasons[4] and "must be text" in reasons[6]
    assert "non-empty list" in reasons[5]
    assert [line for line, _ in examples] == [7]  # a completion given as text after a message-list prompt
    assert examples[0][1].messages[-1] == Message(role="assistant", content="Hej! Yes.")


def _example(*turns: tuple[str, str]) -> ChatExample:
    return ChatExample(id="ex-1", messages=[Message(role=r, content=c) for r, c in turns])


def test_labels_cover_the_assistant_turns_only() -> None:
    tokenizer = _tokenizer(CHATML)
    example = _example(
        ("user", "What is a bygglov?"), ("assistant", "Hej! A permit."), ("user", "More?"), ("assistant", "Yes.")
    )
    encoded = encode_example(example, tokenizer, max_len=100)
    labelled = tokenizer.decode(
        [t for t, label in zip(encoded.input_ids, encoded.labels, strict=False) if label != IGNORE_INDEX]
    )
    assert labelled.split() == ["Hej!", "A", "permit.", "</s>", "Yes.", "</s>"]


def test_template_rewriting_earlier_turns_is_refused() -> None:
    tokenizer = _tokenizer(REWRITING)
    with pytest.raises(TemplateError, match="example 'ex-1', assistant turn 2: .*label masks cannot be derived"):
        encode_example(_example(("user", "What is a bygglov?"), ("assistant", "Hej!")), tokenizer, max_len=100)


def test_deeply_nested_jsonl_line_is_a_line_issue_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    good = json.dumps({"prompt": "What is a bygglov?", "completion": "A permit."})
    path.write_text(good + "\n" + "[" * 50_000 + "]" * 50_000 + "\n" + good + "\n", encoding="utf-8")
    examples, issues = read_examples(path)
    assert [line for line, _ in examples] == [1, 3]
    assert [issue.line for issue in issues] == [2]
    assert "nested deeper than" in issues[0].reason and "depth limit" in issues[0].reason


def test_deeply_nested_json_file_is_one_data_error(tmp_path: Path) -> None:
    from training.records import DataError

    path = tmp_path / "deep.json"
    path.write_text('[{"messages": ' + "[" * 50_000 + "]" * 50_000 + "}]", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_examples(path)
    message = str(caught.value)
    assert "\n" not in message and "deep.json" in message and "depth limit" in message
