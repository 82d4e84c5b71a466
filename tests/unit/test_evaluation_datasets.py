"""QA and question files, and the shipped sample QA set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.evaluation import metrics
from services.evaluation.datasets import DatasetError, load_qa, load_questions

pytestmark = pytest.mark.unit
SAMPLE = Path(__file__).resolve().parents[2] / "benchmarks" / "qa"


def test_sample_qa_set_is_labelled_and_paraphrased() -> None:
    import zaragoza_construction_faq as faq

    items = load_qa(SAMPLE / "sample_qa.jsonl")
    answerable = [i for i in items if i.answerable]
    assert 40 <= len(items) <= 60
    assert len(items) - len(answerable) >= 8
    originals = {entry["id"]: entry for entry in faq.load(lang="en")}
    for item in answerable:
        entry = originals[item.faq_id]
        assert item.question.lower() != entry["q"].lower(), item.id
        assert item.gold_doc == entry["category"] and item.support == entry["a"]
        assert item.expected_terms and all(metrics.contains_term(item.support, t) for t in item.expected_terms), item.id


def test_sample_questions_file_matches_the_qa_set() -> None:
    questions = load_questions(SAMPLE / "sample_questions.txt")
    assert questions == [i.question for i in load_qa(SAMPLE / "sample_qa.jsonl") if i.answerable]


def test_bad_qa_files_give_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    with pytest.raises(DatasetError, match="no such file"):
        load_qa(path)
    path.write_text('{"id": "a", "question": "q?", "gold_doc": "d"}\nnot json\n')
    with pytest.raises(DatasetError, match=r"qa.jsonl:2: not JSON"):
        load_qa(path)
    path.write_text('{"id": "a", "question": "q?"}\n')
    with pytest.raises(DatasetError, match=r":1: .*needs gold_doc or support"):
        load_qa(path)
    path.write_text(
        '{"id": "a", "question": "q?", "answerable": false}\n{"id": "a", "question": "r?", "answerable": false}\n'
    )
    with pytest.raises(DatasetError, match="duplicate id"):
        load_qa(path)
    path.write_text("\n# only a comment\n")
    with pytest.raises(DatasetError, match="no QA items"):
        load_qa(path)


def test_questions_from_text_or_jsonl(tmp_path: Path) -> None:
    text = tmp_path / "q.txt"
    text.write_text("# a comment\nFirst?\n\nSecond?\n")
    assert load_questions(text) == ["First?", "Second?"]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text(json.dumps({"id": "x", "question": "Third?", "answerable": False}) + "\n")
    assert load_questions(jsonl) == ["Third?"]
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(DatasetError):
        load_questions(tmp_path / "empty.txt")
