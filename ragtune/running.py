"""Where a gateway serving this ``RAGTUNE_HOME`` listens: ``ragtune serve`` writes its URL to
``RAGTUNE_HOME/run/gateway.url`` while it runs, so CLI commands over the same home (``ragtune index
search``) can ask it instead of loading the models themselves. A stale file (a killed gateway) only
costs a refused connection."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

MARKER = Path("run") / "gateway.url"


@contextlib.contextmanager
def gateway_marker(home: Path, url: str) -> Iterator[None]:
    """Write the marker for the duration of the block."""
    path = Path(home) / MARKER
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n", encoding="utf-8")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8").strip() == url:  # not a newer gateway's
                path.unlink()


def running_gateway(home: Path) -> str | None:
    """The URL a gateway over ``home`` announced, or None."""
    try:
        return (Path(home) / MARKER).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
