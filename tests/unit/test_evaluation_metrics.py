"""The metric maths of bench/eval on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from services.evaluation import metrics

pytestmark = pytest.mark.unit


def test_percentile_matches_numpy_linear_interpolation() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert metrics.percentile(values, 50) == pytest.approx(25.0)
    assert metrics.percentile(values, 90) == pytest.approx(37.0)
    assert metrics.percentile(values, 99) == pytest.approx(39.7)
    assert metrics.percentile(values, 0) == 10.0
    assert metrics.percentile([], 50) is None
    with pytest.raises(ValueError):
        metrics.percentile(values, 101)


def test_latency_summary_uses_vllm_names() -> None:
    summary = metrics.latency_summary([100.0, 200.0, 300.0], "ttft")
    assert summary["mean_ttft_ms"] == pytest.approx(200.0)
    assert summary["median_ttft_ms"] == pytest.approx(200.0)
    assert summary["p90_ttft_ms"] == pytest.approx(280.0)
    assert summary["p99_ttft_ms"] == pytest.approx(298.0)
    assert summary["std_ttft_ms"] == pytest.approx(np.std([100, 200, 300]))
    assert all(v is None for v in metrics.latency_summary([], "e2el").values())


def test_tpot_is_time_after_first_token_per_remaining_token() -> None:
    assert metrics.time_per_output_token_ms(1100.0, 100.0, 11) == pytest.approx(100.0)
    assert metrics.time_per_output_token_ms(500.0, 100.0, 1) is None


def test_serving_metrics_throughputs() -> None:
    figures = metrics.serving_metrics(
        duration_s=2.0,
        completed=4,
        failed=1,
        output_tokens=[10, 10, 20, 0],
        input_tokens=[5, 5, 5, 5],
        ttft_ms=[1, 2, 3, 4],
        tpot_ms=[5, 5],
        itl_ms=[1, 1, 1],
        e2el_ms=[10, 20, 30, 40],
    )
    assert figures["request_throughput"] == pytest.approx(2.0)
    assert figures["output_throughput"] == pytest.approx(20.0)
    assert figures["total_token_throughput"] == pytest.approx(30.0)
    assert figures["completed"] == 4 and figures["failed"] == 1
    assert figures["median_e2el_ms"] == pytest.approx(25.0)
    with pytest.raises(ValueError):
        metrics.serving_metrics(
            duration_s=0,
            completed=0,
            failed=0,
            output_tokens=[],
            input_tokens=[],
            ttft_ms=[],
            tpot_ms=[],
            itl_ms=[],
            e2el_ms=[],
        )


def test_normalize_makes_number_and_unit_spellings_equal() -> None:
    assert metrics.normalize("50,000 SEK") == metrics.normalize("50 000 sek") == metrics.normalize("50000 SEK")
    assert metrics.normalize("30 m²") == metrics.normalize("30 m2")
    assert metrics.normalize("3–6 weeks") == metrics.normalize("3-6 weeks")
    assert metrics.contains_term("Under AB 04 the client designs", "AB04")


def test_term_recall() -> None:
    answer = "The ROT deduction is 30% of labour, at most 50 000 SEK per person."
    assert metrics.term_recall(answer, ["30%", "50,000", "materials"]) == pytest.approx(2 / 3)
    assert metrics.term_recall(answer, []) is None


def test_hit_at_k_and_reciprocal_rank() -> None:
    relevant = [False, False, True, False, True]
    assert metrics.hit_at_k(relevant, 1) == 0.0
    assert metrics.hit_at_k(relevant, 3) == 1.0
    assert metrics.reciprocal_rank(relevant) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(relevant, k=2) == 0.0
    assert metrics.reciprocal_rank([]) == 0.0
    assert metrics.first_relevant_rank([False, True]) == 2
    with pytest.raises(ValueError):
        metrics.hit_at_k(relevant, 0)


def test_matches_doc_by_source_stem_doc_id_or_title() -> None:
    assert metrics.matches_doc(["d1", "/x/corpus/rot-avdrag.md", "ROT deduction"], "rot-avdrag")
    assert metrics.matches_doc(["rot_avdrag", None, None], "rot-avdrag")
    assert not metrics.matches_doc(["d2", "/x/corpus/rut-avdrag.md", "RUT"], "rot-avdrag")
    assert not metrics.matches_doc([None, ""], "rot-avdrag")
    assert not metrics.matches_doc(["/data/bygglov/kontrakt.md"], "bygglov"), "folders of a path do not count"


def test_supports_needs_a_whole_sentence_of_the_support() -> None:
    support = (
        "The statutory processing time is 10 weeks, with a possible extension to 20 weeks for complex "
        "cases. In practice: simple cases 4-6 weeks, larger projects 8-12 weeks."
    )
    chunk = "## Building permits\nIn practice: simple cases 4–6 weeks, larger projects 8–12 weeks. More text."
    assert metrics.supports(chunk, support)
    assert not metrics.supports("Processing takes 10 weeks.", support)
    assert not metrics.supports("", support)


def test_split_sentences_and_cited_markers() -> None:
    text = "Hej! The permit takes 10 weeks [1]. It may be extended to 20 weeks [2][1].\nVarma hälsningar, Team Zaragoza"
    assert metrics.split_sentences(text) == [
        "The permit takes 10 weeks [1].",
        "It may be extended to 20 weeks [2][1].",
        "Varma hälsningar, Team Zaragoza",
    ]
    assert metrics.cited_markers(text) == [1, 2]


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know the answer to that.",
        "I do not have information about elevators.",
        "The documents do not mention opening hours.",
        "I cannot find this in the sources.",
        "Sorry, I’m not sure about that.",
    ],
)
def test_refusals_are_recognised(answer: str) -> None:
    assert metrics.is_refusal(answer)


def test_answers_are_not_refusals_and_the_flag_wins() -> None:
    assert not metrics.is_refusal("The permit takes 10 weeks [1].")
    assert metrics.is_refusal("anything", refused_flag=True)


def test_groundedness_counts_supported_sentences() -> None:
    table = {
        "The roof lasts forty years.": [1.0, 0.0],
        "Bananas are yellow fruit.": [0.0, 1.0],
        "Clay tile roofs last forty to sixty years.": [0.96, 0.28],
    }

    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.array([table.get(t, [0.6, 0.8]) for t in texts], dtype=float)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    answer = "The roof lasts forty years [1]. Bananas are yellow fruit."
    assert metrics.groundedness(answer, ["Clay tile roofs last forty to sixty years."], embed) == pytest.approx(0.5)
    assert metrics.groundedness(answer, [], embed) is None
    assert metrics.groundedness("Yes.", ["x"], embed) is None
