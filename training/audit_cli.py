"""CLI of the memorization audit: ``ragtune adapters audit NAME`` and the canaries of ``ragtune data prep``.

Kept apart from ``training/cli.py`` so the audit's options live with the audit; ``training/cli.py``
registers ``adapters audit`` and calls ``insert_canaries`` from ``data prep``.
"""

from __future__ import annotations

from pathlib import Path

import typer


def insert_canaries(prepared, out: Path, count: int, repeats: int, seed: int | None):
    """``prepared`` with ``count`` canaries (``repeats`` copies each) in its train split; the canaries
    are written to ``<OUT stem>.canaries.json`` once the data is written (``write_recorded``)."""
    from training.audit import add_canaries

    if count < 0 or repeats < 1:
        raise typer.BadParameter("--canaries must be ≥ 0 and --canary-repeats ≥ 1")
    if count == 0:
        return prepared, []
    return add_canaries(prepared, count, repeats=repeats, seed=seed)


def write_recorded(out: Path, canaries: list) -> Path | None:
    """Record the canaries beside the prepared data ``out`` (never inside it)."""
    from training.audit import write_canaries

    return write_canaries(out, canaries) if canaries else None


def adapters_audit(
    name: str = typer.Argument(..., help="Adapter to audit (folder under RAGTUNE_HOME/adapters)."),
    raw: list[Path] = typer.Option(
        None, "--raw", help="Raw, unmasked training data whose PII and secret strings are prompted for (repeatable)."
    ),
    canaries: Path = typer.Option(
        None, "--canaries", help="Canaries file (<data stem>.canaries.json) of the data the adapter was trained on."
    ),
    candidates: int = typer.Option(None, help="Random secrets each canary is ranked against (default: settings)."),
    as_json: bool = typer.Option(False, "--json", help="Print the audit report as JSON."),
) -> None:
    """Memorization audit: canary exposure (Secret Sharer) and exact / near-exact completions of the
    raw data's PII; the result goes into the adapter card. Exits 1 when the audit fails."""
    from ragtune.console import console
    from ragtune.errors import NotFoundError, RagtuneError
    from ragtune.settings import get_settings
    from training.adapters import validate_name
    from training.audit import run_audit

    settings = get_settings()
    if candidates is not None:
        if candidates < 9:
            raise typer.BadParameter("--candidates must be at least 9")
        settings = settings.model_copy(update={"audit": settings.audit.model_copy(update={"candidates": candidates})})
    adapter_dir = settings.adapters_dir / validate_name(name)
    if not adapter_dir.is_dir():
        raise NotFoundError(f"no adapter '{name}' in {settings.adapters_dir} (see `ragtune adapters list`)")
    for path in [*(raw or []), *([canaries] if canaries else [])]:
        if not path.is_file():
            raise NotFoundError(f"no such file: {path}")
    if not raw and not canaries:
        raise RagtuneError("nothing to audit: give --raw (the unmasked training data) and/or --canaries")
    report = run_audit(
        adapter_dir, settings, raw=list(raw or []), canaries=canaries, status=lambda m: console.print(f"· {m}")
    )
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        for c in report.canaries:
            kind = f"inserted {c.repeats}×" if c.inserted else "control"
            console.print(
                f"  {c.id:22} {kind:12} rank {c.rank}/{c.candidates + 1}  exposure {c.exposure_bits:.2f} "
                f"bits (extrapolated {c.extrapolated_exposure_bits:.2f})  "
                f"{'EXACT' if c.exact else ('near-exact' if c.near_exact else f'similarity {c.similarity}')}"
            )
        pii = report.pii
        console.print(
            f"  PII strings prompted {pii.probes}: exact {pii.exact} (base model too {pii.exact_base}), "
            f"near-exact {pii.near_exact}"
        )
        verdict = "[green]passed[/]" if report.passed else "[red]FAILED[/]: " + "; ".join(report.reasons)
        console.print(f"audit of '{name}' {verdict}  (recorded in {adapter_dir / 'adapter_card.json'})")
    if not report.passed:
        raise typer.Exit(code=1)


def register(adapters_app: typer.Typer) -> None:
    adapters_app.command("audit")(adapters_audit)
