"""CLI of the improvement loop's measurements: ``ragtune ratings`` (blind win rates, read from the
home's feedback database) and the trend table of ``ragtune kpi --by day|week``."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer

from ragtune.console import console
from ragtune.errors import RagtuneError
from ragtune.settings import get_settings


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_kpi_trend(result: dict[str, Any]) -> None:
    """The trend of a ``/v1/kpi?period=...`` answer as a table (one row per period and group)."""
    from rich.markup import escape
    from rich.table import Table

    group = result.get("group") or []
    table = Table(
        result.get("period") or "period",
        *group,
        "requests",
        "rated",
        "resolved w/o human",
        "good",
        "handling",
        "cost",
        "cost / resolved",
        title=f"KPIs by {result.get('period')}",
        title_justify="left",
    )
    for point in result.get("trend", []):
        handling = point.get("handling_s")
        per_resolved = point.get("cost_per_resolved_usd")
        table.add_row(
            point["period"],
            *(escape(str(point.get(key) or "-")) for key in group),
            str(point["requests"]),
            str(point["rated"]),
            share(point["resolved_share"]),
            share(point["good_share"]),
            "-" if handling is None else f"{handling:.0f} s",
            f"${point['cost_usd']:.6f}",
            "-" if per_resolved is None else f"${per_resolved:.6f}",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``ratings`` to the root CLI."""

    @app.command("ratings")
    def ratings_command(
        by: str = typer.Option("contestant", "--by", help="Rank: contestant (mode + adapter), mode or adapter."),
        since: str = typer.Option(None, "--since", help="Judgements from this day on (YYYY-MM-DD, UTC)."),
        bootstrap: int = typer.Option(1000, "--bootstrap", min=0, max=20000, help="Bootstrap resamples."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Win rates of the blind ratings (Bradley-Terry, 95% bootstrap intervals), read from
        RAGTUNE_HOME's feedback database (no gateway needed)."""
        from rich.markup import escape
        from rich.table import Table

        from ragtune.crypto import load_key
        from services.gateway.app import FEEDBACK_DB
        from services.gateway.feedback import FeedbackStore
        from services.gateway.ratings import RatingStore

        if by not in ("contestant", "mode", "adapter"):
            raise RagtuneError(f"unknown --by '{by}'; choose from contestant, mode, adapter")
        try:
            day = date.fromisoformat(since) if since else None
        except ValueError:
            raise RagtuneError(f"--since wants a date as YYYY-MM-DD, not '{since}'") from None
        settings = get_settings()
        path = settings.home / FEEDBACK_DB
        if not path.is_file():
            raise RagtuneError(f"no ratings yet: {path} does not exist (rate answers in the page's Rate view)")
        store = FeedbackStore(path, key=load_key(settings))
        try:
            summary = RatingStore(store).summary(since=day, by=by, bootstrap=bootstrap)  # type: ignore[arg-type]
        finally:
            store.close()
        if as_json:
            print(json.dumps(summary.model_dump(mode="json"), indent=2))
            return
        if not summary.contestants:
            console.print(f"no judgements yet ({summary.tasks} rating tasks waiting)")
            return
        table = Table(
            by,
            "games",
            "won",
            "tied",
            "lost",
            "win rate",
            f"expected win rate ({summary.confidence:.0%} CI)",
            "strength",
            title=f"blind ratings: {summary.judgements} judgements of {summary.tasks} tasks",
            title_justify="left",
        )
        for row in summary.contestants:
            table.add_row(
                escape(row.contestant),
                str(row.games),
                str(row.wins),
                str(row.ties),
                str(row.losses),
                share(row.win_rate),
                f"{row.expected_win_rate:.0%} [{row.ci_low:.0%}, {row.ci_high:.0%}]",
                f"{row.strength:+.2f}",
            )
        console.print(table)
