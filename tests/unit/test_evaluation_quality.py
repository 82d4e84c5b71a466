"""Per-item scoring and per-mode aggregation of eval on fixed gateway responses."""

from __future__ import annotations

import pytest

from services.evaluation import bench, quality
from services.evaluation.datasets import QAItem
from services.evaluation.style import load_style_guide, style_instruction, style_scorer

pytestmark = pytest.mark.unit

SUPPORT = "The statutory processing time is 10 weeks, with a possible extension to 20 weeks for complex cases."
ITEM = QAItem(
    id="q1",
    question="How long does a permit take?",
    gold_doc="bygglov",
    gold_section="How long does it take to get a building permit?",
    expected_terms=["10 weeks", "20 weeks"],
    support=SUPPORT,
)
UNANSWERABLE = QAItem(id="q2", question="Who painted the Mona Lisa?", answerable=False)


def _response(answer: str, citations: list[dict], refused: bool = False) -> dict:
    return {
        "answer": answer,
        "citations": citations,
        "refused": refused,
        "usage": {"prompt_tokens": 300, "context_tokens": 250, "completion_tokens": 20},
        "cost": {"usd": 0.0001},
        "latency_ms": {"total": 900.0},
    }


CITATIONS = [
    {
        "marker": 1,
        "doc_id": "d7",
        "source": "/c/rot-avdrag.md",
        "title": "ROT",
        "section": "x",
        "text": "ROT is 30% of labour.",
    },
    {
        "marker": 2,
        "doc_id": "d1",
        "source": "/c/bygglov.md",
        "title": "Bygglov",
        "section": "How long does it take to get a building permit?",
        "text": "## How long\n" + SUPPORT,
    },
]

SWAPPED = [{**CITATIONS[1], "marker": 1}, {**CITATIONS[0], "marker": 2}]


def test_score_item_with_a_correct_cited_answer() -> None:
    response = _response("It takes 10 weeks, at most 20 weeks [2].", CITATIONS)
    result = quality.score_item(ITEM, "rag", response, None, embed=None)
    assert result.ok and not result.refused
    assert result.doc_relevance == [False, True]
    assert result.section_relevance == [False, True]
    assert result.cited_markers == [2] and result.cited_supporting == [True]
    assert result.term_recall == 1.0
    assert result.prompt_tokens == 300 and result.cost_usd == pytest.approx(0.0001)


def test_score_item_wrong_citation_and_refusal() -> None:
    wrong = quality.score_item(ITEM, "rag", _response("It takes 30 % [1].", CITATIONS), None, embed=None)
    assert wrong.cited_supporting == [False] and wrong.term_recall == 0.0
    refused = quality.score_item(UNANSWERABLE, "rag", _response("I don't know.", [], refused=True), None, embed=None)
    assert refused.refused and refused.refused_flag
    failed = quality.score_item(ITEM, "ft", None, "HTTP 503: engine down", embed=None)
    assert not failed.ok and failed.error.startswith("HTTP 503")


def test_aggregate_per_mode() -> None:
    results = [
        quality.score_item(ITEM, "rag", _response("It takes 10 weeks [2].", CITATIONS), None, embed=None),
        quality.score_item(ITEM, "rag", _response("It takes 20 weeks [1].", SWAPPED), None, embed=None),
        quality.score_item(UNANSWERABLE, "rag", _response("Leonardo da Vinci.", CITATIONS), None, embed=None),
        quality.score_item(ITEM, "rag", None, "HTTP 500", embed=None),
    ]
    figures = quality.aggregate("rag", results, {"score": 0.25})
    assert figures["items"] == 4 and figures["errors"] == 1
    assert figures["hit@1"] == pytest.approx(0.5) and figures["hit@3"] == 1.0
    assert figures["mrr"] == pytest.approx(0.75)
    assert figures["answer_term_recall"] == pytest.approx(0.5)
    assert figures["citation_correctness"] == 1.0
    assert figures["refusal_on_unanswerable"] == 0.0 and figures["false_refusal_on_answerable"] == 0.0
    assert figures["style_score"] == 0.25
    base = quality.aggregate("base", [quality.score_item(ITEM, "base", _response("10 weeks.", []), None, None)], None)
    assert base["hit@5"] is None and base["citation_correctness"] is None


def test_request_bodies() -> None:
    plan = quality.EvalPlan(url="http://x", modes=["rag", "ft"], adapter="voice", top_k=5, max_tokens=32)
    assert quality.request_body(ITEM, "rag", plan, "Be nice.") == {
        "question": ITEM.question,
        "mode": "rag",
        "max_tokens": 32,
        "temperature": 0.0,
        "top_k": 5,
        "style": "Be nice.",
    }
    assert quality.request_body(ITEM, "ft", plan, None)["adapter"] == "voice"
    variants = bench.build_variants(["base", "rag", "ft", "hybrid"], ["a", "b"], "Be nice.")
    assert [v.label for v in variants] == ["base", "rag", "rag+style", "ft:a", "ft:b", "hybrid:a", "hybrid:b"]
    mixed = bench.mixed_variant(["a", "b"])
    assert mixed.label == "mixed:base+a+b" and mixed.mode == "mixed" and mixed.adapter == "base,a,b"
    assert bench.mixed_variant([]) is None


def test_sample_style_guide_gives_instruction_and_score() -> None:
    guide = load_style_guide(None)
    instruction = style_instruction(guide)
    assert guide.greetings[0] in instruction and guide.sign_offs[0] in instruction
    score = style_scorer(guide)
    on_voice = f"{guide.greetings[0]} Your bygglov takes 10 weeks.\n\n{guide.sign_offs[0]}"
    assert score([on_voice])["score"] > score(["A building permit takes 10 weeks."])["score"]
