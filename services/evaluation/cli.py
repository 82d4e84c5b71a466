"""CLI commands of `services.evaluation` (registered on the `ragtune` root app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    return None
