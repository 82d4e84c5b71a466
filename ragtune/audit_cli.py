"""``ragtune audit``: read the home's audit log of administrative actions, or verify its hash chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from ragtune.audit_log import AuditChainError, AuditLog
from ragtune.settings import get_settings


def audit(
    since: datetime | None = typer.Option(None, help="Only entries at or after this time (ISO 8601, UTC)."),
    action: str | None = typer.Option(None, help="Only actions starting with this, e.g. 'adapter.' or 'document.add'."),
    limit: int = typer.Option(100, min=1, help="The newest this many entries."),
    verify: bool = typer.Option(False, "--verify", help="Check the hash chain: exit 1 if the log was edited."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """Who uploaded or deleted which document and who registered or unloaded which adapter
    (RAGTUNE_HOME/audit.jsonl, written by the gateway and the CLI)."""
    log = AuditLog.in_home(get_settings().home)
    if verify:
        try:
            count = log.verify()
        except AuditChainError as err:
            typer.secho(f"error: {err} ({log.path})", fg="red")
            raise typer.Exit(1) from None
        typer.echo(f"✓ {log.path}: {count} entries, hash chain intact")
        return
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    entries = log.read(since=since, action=action, limit=limit)
    for entry in entries:
        if as_json:
            print(entry.model_dump_json())
        else:
            detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
            print(
                f"{entry.at:%Y-%m-%d %H:%M:%S}Z  {entry.actor:16} {entry.action:18} {entry.target}  {detail}".rstrip()
            )
    if not entries and not as_json:
        typer.echo("no audit entries")


def register(app: typer.Typer) -> None:
    """Add ``ragtune audit`` to the CLI."""
    app.command("audit")(audit)
