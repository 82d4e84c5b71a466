"""``ragtune ratings``: the blind win rates read straight from RAGTUNE_HOME's feedback database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
RAGTUNE = str(Path(sys.executable).parent / "ragtune")


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAGTUNE_HOME": str(home), "COLUMNS": "200"}
    env.pop("RAGTUNE_CONFIG", None)
    return subprocess.run([RAGTUNE, *args], env=env, capture_output=True, text=True, timeout=120)


def seed(home: Path) -> None:
    """Nine judged tasks: hybrid with voice@2 beats rag 6 times, loses twice, ties once; one task waits."""
    from services.gateway.app import FEEDBACK_DB
    from services.gateway.feedback import FeedbackStore
    from services.gateway.ratings import MadeAnswer, RatingStore

    store = FeedbackStore(home / FEEDBACK_DB)
    ratings = RatingStore(store)
    answers = [MadeAnswer("rag", None, "plain"), MadeAnswer("hybrid", "voice@2", "warm")]
    for outcome in ["warm"] * 6 + ["plain"] * 2 + ["tie", None]:
        task = ratings.create_task("How long does a permit take?", answers, "local")
        if outcome is not None:
            choice = "tie" if outcome == "tie" else next(a.id for a in task.answers if a.text == outcome)
            ratings.judge(task.task_id, choice, "local")
    store.close()


def test_ratings_prints_win_rates_with_intervals(tmp_path: Path) -> None:
    seed(tmp_path)
    table = run("ratings", "--bootstrap", "200", home=tmp_path)
    assert table.returncode == 0, table.stderr
    out = table.stdout + table.stderr
    assert "9 judgements of 10 tasks" in out and "hybrid:voice@2" in out and "72%" in out  # (6 + 0.5) / 9
    raw = json.loads(run("ratings", "--json", "--by", "mode", "--bootstrap", "50", home=tmp_path).stdout)
    assert raw["by"] == "mode" and [r["contestant"] for r in raw["contestants"]] == ["hybrid", "rag"]
    assert (
        raw["contestants"][0]["ci_low"]
        <= raw["contestants"][0]["expected_win_rate"]
        <= raw["contestants"][0]["ci_high"]
    )


def test_ratings_errors_are_one_line(tmp_path: Path) -> None:
    missing = run("ratings", home=tmp_path)
    assert missing.returncode == 2 and "no ratings yet" in missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr
    seed(tmp_path)
    wrong = run("ratings", "--by", "colour", home=tmp_path)
    assert wrong.returncode == 2 and "choose from contestant, mode, adapter" in wrong.stdout + wrong.stderr
    bad_day = run("ratings", "--since", "yesterday", home=tmp_path)
    assert bad_day.returncode == 2 and "YYYY-MM-DD" in bad_day.stdout + bad_day.stderr
