"""Data preparation: readers, cleaning, PII masking, de-duplication, split, report (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.neardup import find_duplicates
from ragtune.pii import PiiMasker
from training.cleaning import clean_text
from training.prep import prepare, write_prepared
from training.readers import read_examples
from training.records import ChatExample, DataError
from training.split import assign_splits

pytestmark = pytest.mark.unit
DATA = Path(__file__).resolve().parent.parent / "data" / "training"


def test_messy_file_gives_expected_examples_and_report(tmp_path: Path) -> None:
    prepared = prepare(DATA / "messy.jsonl", eval_fraction=0.2, seed=7)
    report = prepared.report
    assert report.input_records == 11
    assert report.kept == 5
    assert report.dropped == {"invalid": 4, "exact_duplicate": 1, "near_duplicate": 1}
    reasons = {issue.line: issue.reason for issue in report.issues}
    assert "invalid JSON" in reasons[4]
    assert "at least a user message and an assistant reply" in reasons[7]
    assert "unrecognised record shape" in reasons[8]
    assert "empty" in reasons[10]
    assert reasons[2] == "exact duplicate of line 1"
    assert reasons[12].startswith("near duplicate of line 11")
    assert report.pii_found == {"EMAIL": 2, "IBAN": 2, "CARD": 1, "PHONE": 1, "PERSON": 2}
    assert report.encoding_fixed == 1
    assert (report.train, report.eval) == (4, 1)

    texts = "\n".join(e.text() for e in prepared.examples)
    for secret in ("anna.svensson@example.com", "070-123 45 67", "SE45 5000", "4111 1111", "Erik", "Johansson"):
        assert secret not in texts
    by_id = {e.id: e for e in prepared.examples}
    # the same e-mail gets the same placeholder in question and answer
    assert by_id["messy-3"].messages[0].content.count("[EMAIL_1]") == 1
    assert "[EMAIL_1]" in by_id["messy-3"].messages[1].content
    assert by_id["messy-6"].messages[0].content == "My name is [PERSON_1]. Do I need a permit for a café?"
    assert by_id["messy-6"].messages[1].content.startswith("Hej [PERSON_1]!")
    # the brand's own sign-off is kept, whitespace collapsed
    assert by_id["messy-1"].messages[1].content == "Hej! Usually 10 weeks.\n\nVarma hälsningar, Team Zaragoza"

    out = tmp_path / "clean.jsonl"
    report_path = write_prepared(prepared, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in prepared.examples]
    assert json.loads(report_path.read_text())["kept"] == 5
    # prepared output reads back unchanged (idempotent: splits kept, nothing dropped)
    again = prepare(out, eval_fraction=0.5, seed=99)
    assert [e.model_dump() for e in again.examples] == [e.model_dump() for e in prepared.examples]


def test_strict_mode_names_bad_lines() -> None:
    with pytest.raises(DataError, match=r"line 4: invalid JSON.*line 7"):
        prepare(DATA / "messy.jsonl", strict=True)


def test_all_shapes_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "shapes.jsonl"
    records = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "a?"},
                {"role": "assistant", "content": "A."},
            ]
        },
        {"conversations": [{"from": "human", "value": "b?"}, {"from": "gpt", "value": "B."}]},
        {"instruction": "c?", "input": "ctx", "output": "C."},
        {"prompt": "d?", "completion": "D."},
        {"question": "e?", "answer": "E."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records))
    examples, issues = read_examples(path)
    assert not issues
    assert [e.messages[-1].content for _, e in examples] == ["A.", "B.", "C.", "D.", "E."]
    assert examples[0][1].messages[0].role == "system"
    assert examples[2][1].messages[0].content == "c?\n\nctx"

    csv_examples, csv_issues = read_examples(DATA / "two_columns.csv")
    assert [e.messages[0].content for _, e in csv_examples] == [
        "What is a friggebod?",
        "Do I need a permit for solar panels?",
    ]
    assert [i.line for i in csv_issues] == [3]


def test_unusable_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        prepare(tmp_path / "missing.jsonl")
    (tmp_path / "data.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported file type"):
        prepare(tmp_path / "data.txt")
    (tmp_path / "bad.jsonl").write_text("not json\n{}\n")
    with pytest.raises(DataError, match=r"no usable examples.*line 1: invalid JSON"):
        prepare(tmp_path / "bad.jsonl")
    (tmp_path / "wide.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="exactly two columns"):
        prepare(tmp_path / "wide.csv")


def test_clean_text_repairs_mojibake_and_whitespace() -> None:
    assert clean_text("  cafÃ©\t\tis  open\r\n\r\n\r\n\r\nyes ") == "café is open\n\nyes"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to bo@firma.se", "EMAIL"),
        ("ring +46 42 12 34 56", "PHONE"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN"),
        ("card 5555-5555-5555-4444", "CARD"),
        ("ask Dr. Maria Lind", "PERSON"),
        ("Hi, this is Karin Berg from the board", "PERSON"),
    ],
)
def test_pii_kinds(text: str, kind: str) -> None:
    masker = PiiMasker()
    masked = masker.mask(text)
    assert f"[{kind}_1]" in masked
    assert masker.found[kind] == 1


def test_pii_ignores_lookalikes() -> None:
    masker = PiiMasker()
    text = (
        "Costs 25,000-50,000 SEK per year; 4111 1111 1111 1112 fails Luhn; "
        "SE45 5000 0000 0583 9825 7467 fails mod-97; Varma hälsningar, Team Zaragoza"
    )
    assert masker.mask(text) == text
    assert not masker.found


def test_pii_placeholders_are_consistent() -> None:
    masker = PiiMasker()
    first = masker.mask("Mail Bo@Firma.se or anna@x.se")
    second = masker.mask("Again: bo@firma.se")
    assert first == "Mail [EMAIL_1] or [EMAIL_2]"
    assert second == "Again: [EMAIL_1]"


def test_dedup_exact_and_near() -> None:
    base = "the roof needs a new underlayment before the winter season starts in november"
    texts = [base, base.upper() + "!", base.replace("new", "fresh"), "something else entirely here"]
    duplicates = find_duplicates(texts, threshold=0.5)
    assert [(d.index, d.kept, d.kind) for d in duplicates] == [(1, 0, "exact"), (2, 0, "near")]


def test_split_is_deterministic_and_order_independent() -> None:
    examples = [
        ChatExample(
            id=f"e{i}", messages=[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
        )
        for i in range(20)
    ]
    first = {e.id: e.split for e in assign_splits(examples, 0.2, seed=1)}
    second = {e.id: e.split for e in assign_splits(list(reversed(examples)), 0.2, seed=1)}
    assert first == second
    assert sum(1 for s in first.values() if s == "eval") == 4
    other_seed = {e.id: e.split for e in assign_splits(examples, 0.2, seed=2)}
    assert other_seed != first
