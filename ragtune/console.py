"""Terminal output shared by every CLI command: one rich console and a progress bar helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=True)
"""Human-facing messages go to stderr so stdout stays clean for ``--json`` output."""


@contextmanager
def progress_bar(description: str, total: float | None = 1.0) -> Iterator[Callable[[str, float], None]]:
    """A progress bar; yields ``update(step: str, done: float)`` with ``done`` in units of total."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)

        def update(step: str, done: float) -> None:
            progress.update(task, completed=done, description=f"{description}: {step}")

        yield update
