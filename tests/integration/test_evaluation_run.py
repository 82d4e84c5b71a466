"""A tiny real bench and eval, end to end: a real gateway over HTTP (local engine, the real
SmolLM2 and MiniLM models, a real FAISS index of three sample documents, a real LoRA adapter),
driven by ``ragtune bench`` (function) and ``ragtune eval`` (the CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from ragtune.settings import EngineSettings, Settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SAMPLE_QA = REPO / "benchmarks" / "qa" / "sample_qa.jsonl"
CATEGORIES = ("bygglov", "rot-avdrag", "takläggning")


@contextmanager
def _quiet_progress(_total: int):
    yield lambda _step, _done: None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, embedder_path: Path, tiny_adapter: Path):
    """A gateway on a free loopback port: local engine, three sample documents, adapter ``voice``."""
    from indexer import DocumentStore
    from indexer.sample import build_sample_corpus
    from services.gateway.server import BackgroundGateway

    home = tmp_path_factory.mktemp("evaluation-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    settings = Settings(home=home, engine=EngineSettings(kind="local"))
    settings.ensure_dirs()
    shutil.copytree(tiny_adapter, settings.adapters_dir / "voice")
    documents = [p for p in build_sample_corpus(home / "corpus") if p.stem in CATEGORIES]
    assert len(documents) == len(CATEGORIES)
    store = DocumentStore.open(settings.index_dir, embedder_path, settings.index)
    try:
        store.add_paths(documents)
    finally:
        store.close()
    with BackgroundGateway(settings) as running:
        yield settings, running.url


@pytest.fixture(scope="module")
def qa_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two answerable sample items from the indexed documents and one unanswerable one."""
    lines = [json.loads(line) for line in SAMPLE_QA.read_text().splitlines()]
    chosen = [item for item in lines if item.get("gold_doc") in CATEGORIES][:2]
    chosen.append(next(item for item in lines if not item["answerable"]))
    path = tmp_path_factory.mktemp("qa") / "qa.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in chosen) + "\n")
    return path


def test_bench_then_eval_write_one_report(gateway, qa_file: Path, tmp_path: Path) -> None:
    from services.evaluation.runner import BenchOptions, run_bench

    settings, url = gateway
    out = tmp_path / "results"
    questions = tmp_path / "questions.txt"
    questions.write_text("How long does a building permit take?\n")
    options = BenchOptions(
        url=url,
        questions=questions,
        out=out,
        concurrency=[1, 2],
        num_prompts=2,
        max_tokens=8,
        top_k=1,
        modes=["base", "rag", "ft", "hybrid"],
        train_cost_usd=0.01,
    )
    written = run_bench(options, settings, _quiet_progress)
    assert {p.name for p in written} >= {
        "results.json",
        "report.md",
        "latency_cdf.png",
        "throughput_vs_concurrency.png",
        "cost_per_query.png",
        "break_even.png",
    }
    data = json.loads((out / "results.json").read_text())
    levels = {(level["name"], level["concurrency"]): level for level in data["bench"]["levels"]}
    assert set(levels) == {
        (name, c) for name in ("base", "rag", "rag+style", "ft:voice", "hybrid:voice") for c in (1, 2)
    } | {("mixed:base+voice", 2)}
    for level in levels.values():
        assert level["failed"] == 0 and level["completed"] == 2, level["errors"]
        assert level["output_throughput"] > 0 and level["median_ttft_ms"] > 0
        assert level["completion_tokens_per_query"] <= 8
    assert levels[("rag", 1)]["context_tokens_per_query"] > 0
    assert levels[("base", 1)]["context_tokens_per_query"] == 0
    assert levels[("rag+style", 1)]["prompt_tokens_per_query"] > levels[("rag", 1)]["prompt_tokens_per_query"]
    assert data["break_even"]["train_cost_usd"] == 0.01
    assert data["break_even"]["style_instruction_tokens"] > 0
    raw = data["bench"]["raw"][0]["samples"][0]
    assert raw["ok"] and raw["e2el_ms"] >= raw["ttft_ms"]

    env = {**os.environ, "RAGTUNE_HOME": str(settings.home), "RAGTUNE_ENGINE__KIND": "local"}
    command = [
        sys.executable,
        "-m",
        "ragtune.cli",
        "eval",
        "--qa",
        str(qa_file),
        "--url",
        url,
        "--out",
        str(out),
        "--max-tokens",
        "16",
        "--k",
        "2",
        "--modes",
        "base,rag,ft,hybrid",
        "--adapter",
        "voice",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    assert data["bench"]["levels"], "eval must keep the bench section"
    modes = {m["mode"]: m for m in data["eval"]["modes"]}
    assert list(modes) == ["base", "rag", "rag+style", "ft", "hybrid"]
    for figures in modes.values():
        assert figures["errors"] == 0 and figures["items"] == 3
        assert 0.0 <= figures["answer_term_recall"] <= 1.0
        assert figures["style_score"] is not None
    assert modes["base"]["hit@1"] is None
    assert modes["rag"]["hit@1"] is not None and modes["rag"]["doc_hit@2"] > 0 and "hit@3" not in modes["rag"]
    assert modes["rag"]["prompt_tokens_per_query"] > modes["base"]["prompt_tokens_per_query"]
    assert len(data["eval"]["items"]) == 5 * 3
    markdown = (out / "report.md").read_text()
    assert "Answer quality by mode" in markdown and "Serving speed" in markdown
    assert (out / "quality_by_mode.png").stat().st_size < 300_000


def test_eval_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragtune.cli",
            "eval",
            "--qa",
            str(bad),
            "--url",
            "http://127.0.0.1:9",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert completed.returncode == 2
    assert "bad.jsonl:1: question: Field required" in " ".join(completed.stderr.split())
    assert "Traceback" not in completed.stderr
