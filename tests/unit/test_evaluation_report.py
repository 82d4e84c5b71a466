"""results.json, report.md and the plots, rendered from fixed figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.errors import RagtuneError
from services.evaluation import analysis, report
from services.evaluation.driver import LevelResult, RequestSample

pytestmark = pytest.mark.unit


def _samples(ttft: float, e2el: float, prompt: int, usd: float, n: int = 4) -> list[RequestSample]:
    return [
        RequestSample(
            ok=True,
            ttft_ms=ttft + i,
            e2el_ms=e2el + 10 * i,
            itl_ms=[20.0, 21.0],
            output_tokens=32,
            question_tokens=20,
            context_tokens=prompt - 60,
            prompt_tokens=prompt,
            cost_usd=usd,
            input_usd=usd / 4,
            output_usd=3 * usd / 4,
            server_latency_ms={"retrieval": 8.0},
        )
        for i in range(n)
    ]


def _levels() -> list[LevelResult]:
    levels = []
    for concurrency in (1, 4):
        speed = 1.0 if concurrency == 1 else 2.5
        for name, mode, adapter, prompt, usd in [
            ("base", "base", None, 60, 2e-5),
            ("rag", "rag", None, 460, 4e-5),
            ("rag+style", "rag", None, 560, 4.5e-5),
            ("ft:voice", "ft", "voice", 60, 4e-5),
            ("hybrid:voice", "hybrid", "voice", 460, 4.2e-5),
        ]:
            levels.append(
                LevelResult(
                    name=name,
                    mode=mode,
                    adapter=adapter,
                    concurrency=concurrency,
                    duration_s=4.0 / speed,
                    samples=_samples(80, 1500, prompt, usd),
                )
            )
        levels.append(
            LevelResult(
                name="engine-direct",
                target="engine",
                mode="base",
                concurrency=concurrency,
                duration_s=3.9 / speed,
                samples=_samples(75, 1490, 40, 0.0),
            )
        )
    failed = RequestSample(ok=False, error="HTTP 503: engine down")
    levels.append(
        LevelResult(
            name="mixed:base+voice",
            mode="mixed",
            adapter="base,voice",
            concurrency=4,
            duration_s=2.0,
            samples=[*_samples(90, 1600, 60, 3e-5), failed],
        )
    )
    return levels


def _data() -> dict:
    summaries = [level.summary() for level in _levels()]
    data = {
        "meta": {"base model": "tiny"},
        "bench": {
            "config": {"questions": 4, "num_prompts": 4, "max_tokens": 32, "concurrency": [1, 4]},
            "levels": summaries,
            "gateway_overhead": analysis.gateway_overhead(summaries),
            "adapter_overhead": analysis.adapter_overhead(summaries),
            "raw": [level.model_dump(mode="json") for level in _levels()],
        },
    }
    result = analysis.break_even_analysis(
        summaries, train_cost_usd=0.002, train_seconds=72.0, train_source="card", adapter="voice"
    )
    data["break_even"] = result.model_dump(mode="json")
    modes = []
    for mode, hit, style in [
        ("base", None, 0.1),
        ("rag", 0.8, 0.12),
        ("rag+style", 0.8, 0.3),
        ("ft", None, 0.7),
        ("hybrid", 0.8, 0.65),
    ]:
        modes.append(
            {
                "mode": mode,
                "items": 10,
                "errors": 0,
                "hit@1": hit,
                "hit@3": hit,
                "hit@5": hit,
                "doc_hit@5": hit,
                "mrr": hit,
                "doc_mrr": hit,
                "answer_term_recall": 0.4,
                "citation_correctness": hit,
                "answers_with_citations": hit,
                "groundedness": 0.5,
                "refusal_on_unanswerable": 0.5,
                "false_refusal_on_answerable": 0.1,
                "prompt_tokens_per_query": 100.0,
                "context_tokens_per_query": 50.0,
                "completion_tokens_per_query": 30.0,
                "usd_per_query": 3e-5,
                "median_total_ms": 900.0,
                "style_score": style,
                "style_breakdown": {"score": style},
            }
        )
    data["eval"] = {
        "config": {
            "qa_file": "qa.jsonl",
            "answerable": 8,
            "unanswerable": 2,
            "top_k": 5,
            "max_tokens": 64,
            "adapter": "voice",
        },
        "adapter_card": {"name": "voice", "style_score_before": 0.1, "style_score_after": 0.7},
        "modes": modes,
        "items": [],
    }
    return data


def test_summary_of_a_level() -> None:
    summary = _levels()[-1].summary()
    assert summary["completed"] == 4 and summary["failed"] == 1
    assert summary["errors"] == ["HTTP 503: engine down"]
    assert summary["output_throughput"] == pytest.approx(4 * 32 / 2.0)
    assert summary["median_tpot_ms"] == pytest.approx((1510 + 13.5) / 31)
    assert summary["usd_per_1k_queries"] == pytest.approx(0.03)
    assert summary["server_retrieval_ms_median"] == 8.0


def test_report_writes_markdown_and_small_plots(tmp_path: Path) -> None:
    data = _data()
    report.save_results(tmp_path, data)
    files = report.write_report(tmp_path, report.load_results(tmp_path))
    names = {f.name for f in files}
    assert names == {"report.md", *report.PLOTS.values()}
    for path in files:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert path.stat().st_size < 300_000
    markdown = (tmp_path / "report.md").read_text()
    for heading in (
        "Headline by mode",
        "Serving speed",
        "Tokens and cost per query",
        "Gateway overhead",
        "Adapter overhead",
        "break-even",
        "Answer quality by mode",
        "![break_even.png]",
    ):
        assert heading in markdown
    assert "| rag+style |" in markdown and "HTTP 503: engine down" in markdown
    assert json.loads((tmp_path / "results.json").read_text())["bench"]["levels"]


def test_headline_rows_join_bench_and_eval() -> None:
    rows = {row["mode"]: row for row in report.headline_rows(_data())}
    assert list(rows) == ["base", "rag", "rag+style", "ft", "hybrid"]
    assert rows["ft"]["variant"] == "ft:voice" and rows["ft"]["style_score"] == 0.7
    assert rows["rag"]["prompt_tokens"] == 460 and rows["rag"]["hit@5"] == 0.8
    assert rows["base"]["usd_per_1k"] == pytest.approx(0.02)


def test_report_from_eval_only(tmp_path: Path) -> None:
    data = {"eval": _data()["eval"]}
    files = report.write_report(tmp_path, data)
    assert {f.name for f in files} == {"report.md", "quality_by_mode.png"}


def test_broken_results_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{broken")
    with pytest.raises(RagtuneError, match="not valid JSON"):
        report.load_results(tmp_path)
    assert report.load_results(tmp_path / "missing") == {}
