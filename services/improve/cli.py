"""CLI of the improvement loop: ``data from-feedback``, ``adapters promote`` / ``rollback``, ``iterate``."""

from __future__ import annotations

from pathlib import Path

import typer

URL_HELP = "A running gateway to answer the QA set through; default: start `ragtune serve` for the check."


def _print_report(report) -> None:
    from rich.table import Table

    from ragtune.console import console

    table = Table(
        "figure",
        report.candidate.ref,
        report.current.ref if report.current else "-",
        "margin",
        title=f"QA check: {report.qa_file} ({report.items} items, mode {report.mode})",
        title_justify="left",
    )
    for key in ("style", "term_recall", "refusals"):
        new = getattr(report.candidate, key)
        old = getattr(report.current, key) if report.current else None
        margin = report.margins.get(key)
        table.add_row(
            key,
            "-" if new is None else f"{new:.3f}",
            "-" if old is None else f"{old:.3f}",
            "-" if margin is None else f"{margin:+.3f}",
        )
    console.print(table)


def data_from_feedback(
    out: Path = typer.Argument(..., help="Output JSONL in the normal form `ragtune train` reads (report beside it)."),
    since: str = typer.Option(None, "--since", help="Only feedback from this date on (ISO, e.g. 2026-11-01)."),
    feedback_db: Path = typer.Option(None, help="Feedback database (default: RAGTUNE_HOME/feedback.sqlite)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Training data from rated answers: those rated good, and raters' corrections (PII masked as in data prep)."""
    from ragtune.console import console
    from ragtune.settings import get_settings
    from services.improve.from_feedback import from_feedback
    from services.improve.loop import parse_since

    report = from_feedback(get_settings(), out, parse_since(since, 0) if since else None, db=feedback_db)
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    pii = ", ".join(f"{k} {v}" for k, v in (report.prep.pii_found if report.prep else {}).items()) or "none"
    kept = report.prep.kept if report.prep else 0
    console.print(
        f"[green]✓[/] {kept} examples → {out}  ({report.rated} rated: {report.good} good, {report.corrected} "
        f"corrected, {report.skipped} skipped; PII masked: {pii})"
    )


def adapters_promote(
    ref: str = typer.Argument(..., help="NAME@VERSION to serve under the plain name."),
    force: bool = typer.Option(False, help="Promote without the QA check (needs --reason; audit-logged)."),
    reason: str = typer.Option(None, help="Why (required with --force)."),
    url: str = typer.Option(None, help=URL_HELP),
    qa: Path = typer.Option(None, help="QA set (default: settings improve.qa_file)."),
    api_key: str = typer.Option(None, envvar="RAGTUNE_API_KEY", help="Bearer key for the gateway."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Serve NAME@VERSION under NAME if it does at least as well as the promoted one on the QA set (exit 3 if not)."""
    from ragtune.console import console
    from ragtune.settings import get_settings
    from services.improve.loop import promote

    outcome = promote(
        get_settings(),
        ref,
        force=force,
        reason=reason,
        url=url,
        qa=qa,
        api_key=api_key,
        status=lambda m: console.print(f"· {m}"),
    )
    if as_json:
        print(outcome.model_dump_json(indent=2))
    elif outcome.report is not None:
        _print_report(outcome.report)
    if outcome.promoted:
        how = f" (forced: {outcome.reason})" if outcome.forced else ""
        console.print(f"[green]✓[/] {outcome.adapter}@{outcome.version} promoted over {outcome.previous}{how}")
        return
    reasons = "; ".join(outcome.report.reasons) if outcome.report else ""
    console.print(f"[yellow]not promoted[/]: {reasons}  ({outcome.adapter}@{outcome.previous} stays served)")
    raise typer.Exit(3)


def adapters_rollback(
    name: str = typer.Argument(..., help="The adapter whose last promotion to undo."),
    reason: str = typer.Option(None, help="Why (recorded in the audit log)."),
) -> None:
    """Serve again the version promoted before the current one."""
    from ragtune.console import console
    from ragtune.settings import get_settings
    from services.improve.loop import rollback

    change = rollback(get_settings(), name, reason=reason)
    console.print(f"[green]✓[/] {name}: {change.previous} → {change.version}")


def iterate_command(
    name: str = typer.Option(..., "--name", help="The adapter to improve."),
    since: str = typer.Option(None, "--since", help="Feedback from this date on (default: improve.since_days ago)."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Optimizer steps of the new version."),
    epochs: float = typer.Option(None, "--epochs", help="Epochs of the new version (default: settings)."),
    url: str = typer.Option(None, help=URL_HELP),
    qa: Path = typer.Option(None, help="QA set (default: settings improve.qa_file)."),
    api_key: str = typer.Option(None, envvar="RAGTUNE_API_KEY", help="Bearer key for the gateway."),
    feedback_db: Path = typer.Option(None, help="Feedback database (default: RAGTUNE_HOME/feedback.sqlite)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """from-feedback → train the next version → check it against the promoted one → promote or say why not.

    Exit codes: 0 promoted, 3 refused (the promoted version stays), 4 nothing to train on, 1 failed.
    """
    from ragtune.console import console
    from ragtune.errors import RagtuneError
    from ragtune.settings import get_settings
    from services.improve.loop import EXIT_CODES, IterateOutcome, iterate, parse_since

    settings = get_settings()
    if max_steps is not None and epochs is not None:
        raise typer.BadParameter("give --epochs or --max-steps, not both")
    start = parse_since(since, settings.improve.since_days)
    try:
        outcome = iterate(
            settings,
            name,
            since=start,
            max_steps=max_steps,
            epochs=epochs,
            url=url,
            qa=qa,
            api_key=api_key,
            feedback_db=feedback_db,
            status=lambda m: console.print(f"· {m}"),
        )
    except (RagtuneError, OSError) as err:
        outcome = IterateOutcome(status="failed", adapter=name, message=str(err))
    if as_json:
        print(outcome.model_dump_json(indent=2))
    else:
        if outcome.promotion is not None and outcome.promotion.report is not None:
            _print_report(outcome.promotion.report)
        colour = {"promoted": "green", "refused": "yellow", "nothing": "yellow", "failed": "red"}[outcome.status]
        console.print(f"[{colour}]{outcome.status}[/]: {outcome.message}")
    raise typer.Exit(EXIT_CODES[outcome.status])


def register(app: typer.Typer) -> None:
    """Add the loop's commands to the root CLI (``data`` and ``adapters`` are training's groups)."""
    from training.cli import adapters_app, data_app

    data_app.command("from-feedback")(data_from_feedback)
    adapters_app.command("promote")(adapters_promote)
    adapters_app.command("rollback")(adapters_rollback)
    app.command("iterate")(iterate_command)
