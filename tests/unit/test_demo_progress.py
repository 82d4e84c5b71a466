"""`make demo` shows the sample adapter's training as a progress bar, and nothing when it is cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.console import console
from ragtune.settings import Settings

pytestmark = pytest.mark.unit


def _run(monkeypatch, tmp_path: Path, steps: int) -> str:
    import training.sample
    from services.demo import prepare_adapter

    def fake_training(settings, *, progress=None, status=None, held_out=frozenset()):
        for step in range(1, steps + 1):  # what the Trainer callback reports
            progress(step, steps, 2.0 / step)
        return tmp_path / "zaragoza-voice"

    monkeypatch.setattr(training.sample, "ensure_sample_adapter", fake_training)
    with console.capture() as captured:
        prepare_adapter(Settings(home=tmp_path))
    return captured.get()


def test_training_shows_steps_and_a_cached_adapter_shows_no_bar(monkeypatch, tmp_path: Path) -> None:
    trained = _run(monkeypatch, tmp_path, steps=3)
    assert "training the sample adapter" in trained and "step 3/3" in trained and "sample adapter:" in trained
    cached = _run(monkeypatch, tmp_path, steps=0)
    assert "training the sample adapter" not in cached and "sample adapter:" in cached
