"""``ragtune train --with-context`` option checks (no model: the checks run before training)."""

from __future__ import annotations

import pytest
import typer

from ragtune.settings import GatewaySettings, IndexSettings, Settings
from training.cli import _context_options

pytestmark = pytest.mark.unit


def _settings() -> Settings:
    return Settings(index=IndexSettings(top_k=4), gateway=GatewaySettings(refusal_text="No idea."))


def test_without_the_flag_there_is_no_context_and_its_options_are_refused() -> None:
    assert _context_options(_settings(), False, None, None, None) is None
    with pytest.raises(typer.BadParameter, match="--index, --refusal-share only apply with --with-context"):
        _context_options(_settings(), False, "docs", None, 0.3)


def test_defaults_follow_the_settings() -> None:
    namespace, options = _context_options(_settings(), True, None, None, None)
    assert namespace == "default"
    assert (options.k, options.refusal_share, options.refusal_text) == (4, 0.2, "No idea.")
    namespace, options = _context_options(_settings(), True, "company", 3, 0.5)
    assert (namespace, options.k, options.refusal_share) == ("company", 3, 0.5)


@pytest.mark.parametrize(
    ("namespace", "k", "share", "message"),
    [
        ("", None, None, "invalid namespace ''"),
        ("../x", None, None, "invalid namespace"),
        ("ok", 0, None, "--context-k must be between 1 and 50"),
        ("ok", 51, None, "--context-k must be between 1 and 50"),
        ("ok", None, -0.1, "--refusal-share must be between 0 and 1"),
        ("ok", None, 1.5, "--refusal-share must be between 0 and 1"),
    ],
)
def test_bad_values_are_refused(namespace: str, k: int | None, share: float | None, message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message.replace("(", r"\(").replace(".", r"\.")):
        _context_options(_settings(), True, namespace, k, share)
