"""Promotion, rollback and ``ragtune iterate`` (from-feedback → train → check → promote).

Every change of the promoted version goes to the audit log (``ragtune.audit_log``): promotions with
their figures and margins, forced promotions with their reason, rollbacks.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ragtune.audit_log import AuditLog
from ragtune.errors import ConflictError, NotFoundError, RagtuneError
from ragtune.settings import Settings
from services.improve import gate
from services.improve.from_feedback import FromFeedbackReport, from_feedback
from training import versions

StatusFn = Callable[[str], None]


class PromotionOutcome(BaseModel):
    """What ``adapters promote`` did."""

    adapter: str
    version: str
    previous: str | None
    promoted: bool
    forced: bool = False
    reason: str | None = None
    report: gate.GateReport | None = None


class IterateOutcome(BaseModel):
    """What ``ragtune iterate`` did; ``status`` decides its exit code."""

    status: Literal["promoted", "refused", "nothing", "failed"]
    adapter: str
    message: str
    data: FromFeedbackReport | None = None
    version: str | None = None
    promotion: PromotionOutcome | None = None


EXIT_CODES = {"promoted": 0, "failed": 1, "refused": 3, "nothing": 4}
"""``ragtune iterate``'s exit codes (2 stays a usage error, as everywhere in the CLI)."""


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def gateway_url(settings: Settings, url: str | None) -> Iterator[str]:
    """``url`` as given, or ``ragtune serve`` started for the block (its settings: this process's)."""
    if url:
        yield url.rstrip("/")
        return
    from services.evaluation.gateway import managed_gateway

    with managed_gateway(settings.runs_dir, settings.engine.start_timeout_s + 120) as started:
        yield started


def _adapter_dir(settings: Settings, name: str) -> Path:
    folder = settings.adapters_dir / name
    if not versions.read_versions(folder).versions:
        raise NotFoundError(f"no adapter '{name}' in {settings.adapters_dir} (see `ragtune adapters list`)")
    return folder


def promote(
    settings: Settings,
    ref: str,
    *,
    force: bool = False,
    reason: str | None = None,
    url: str | None = None,
    qa: Path | None = None,
    api_key: str | None = None,
    status: StatusFn | None = None,
) -> PromotionOutcome:
    """Promote ``NAME@VERSION`` when it does at least as well as the promoted version on the QA set
    (``promoted`` False with the report otherwise); ``force`` skips the check and needs a reason."""
    say = status or (lambda _m: None)
    name, version = versions.split_ref(ref)
    if version is None:
        raise RagtuneError(f"name the version to promote: {name}@VERSION (see `ragtune adapters list`)")
    folder = _adapter_dir(settings, name)
    versions.version_dir(folder, version)  # NotFoundError for an unknown version
    current = versions.read_versions(folder).promoted
    if current == version:
        raise ConflictError(f"{name}@{version} is already the promoted version")
    log = AuditLog.in_home(settings.home)
    if force:
        if not reason or not reason.strip():
            raise RagtuneError("--force needs --reason: why is this version promoted without the QA check?")
        change = versions.promote(folder, version, forced=True, reason=reason, actor=actor())
        log.append(actor(), "adapter.promote.forced", ref, {"previous": change.previous, "reason": reason})
        return PromotionOutcome(
            adapter=name, version=version, previous=current, promoted=True, forced=True, reason=reason
        )
    candidate = versions.make_ref(name, version)
    previous = versions.make_ref(name, current) if current else None
    with gateway_url(settings, url) as gateway:
        say(f"checking {candidate} against {previous or 'nothing'} on {gate.qa_path(settings, qa)} via {gateway}")
        report = gate.check(gateway, candidate, previous, settings, qa=qa, api_key=api_key)
    versions.set_evaluation(folder, version, report.as_record())
    if not report.passed:
        return PromotionOutcome(adapter=name, version=version, previous=current, promoted=False, report=report)
    change = versions.promote(folder, version, actor=actor())
    log.append(
        actor(),
        "adapter.promote",
        ref,
        {"previous": change.previous, "margins": report.margins, "candidate": report.candidate.model_dump()},
    )
    return PromotionOutcome(adapter=name, version=version, previous=current, promoted=True, report=report)


def rollback(settings: Settings, name: str, *, reason: str | None = None) -> versions.PointerChange:
    """Serve again the version promoted before the current one (audit-logged)."""
    folder = _adapter_dir(settings, versions.split_ref(name)[0])
    change = versions.rollback(folder, reason=reason, actor=actor())
    AuditLog.in_home(settings.home).append(
        actor(), "adapter.rollback", folder.name, {"from": change.previous, "to": change.version, "reason": reason}
    )
    return change


def parse_since(value: str | None, days: float) -> datetime:
    """``--since``: an ISO date or date-time (UTC when it names no zone); default ``days`` ago."""
    if not value:
        return datetime.now(UTC) - timedelta(days=days)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RagtuneError(f"--since takes a date like 2026-11-01 (or an ISO date-time), not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iterate(
    settings: Settings,
    name: str,
    *,
    since: datetime,
    max_steps: int | None = None,
    epochs: float | None = None,
    url: str | None = None,
    qa: Path | None = None,
    api_key: str | None = None,
    feedback_db: Path | None = None,
    status: StatusFn | None = None,
) -> IterateOutcome:
    """One turn of the loop: from-feedback → train the next version (parent: the promoted one) →
    check it against the promoted version → promote it, or say why not."""
    from training.pipeline import TrainRequest, train_adapter

    say = status or (lambda _m: None)
    settings.ensure_dirs()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = settings.runs_dir / f"{name}-feedback-{stamp}.jsonl"
    say(f"feedback since {since.isoformat(timespec='minutes')} → {out}")
    try:
        data = from_feedback(settings, out, since, db=feedback_db)
    except RagtuneError as err:
        return IterateOutcome(status="nothing", adapter=name, message=str(err))
    kept = data.prep.kept if data.prep else 0
    if kept < settings.improve.min_examples:
        return IterateOutcome(
            status="nothing",
            adapter=name,
            data=data,
            message=f"{kept} example(s) from feedback; improve.min_examples is {settings.improve.min_examples}",
        )
    request = TrainRequest(
        data=out,
        name=name,
        new_version=True,
        max_steps=max_steps,
        epochs=epochs,
        style_guide=settings.improve.style_guide,
    )
    say(f"training the next version of {name} on {kept} example(s)")
    card = train_adapter(request, settings, status=say)
    version = card.version or "v1"
    if card.parent is None:
        return IterateOutcome(
            status="promoted",
            adapter=name,
            data=data,
            version=version,
            message=f"{name}@{version} is the adapter's first version: served, nothing to compare it with",
        )
    promotion = promote(settings, versions.make_ref(name, version), url=url, qa=qa, api_key=api_key, status=say)
    if promotion.promoted:
        message = f"{name}@{version} promoted over {promotion.previous}"
    else:
        reasons = "; ".join(promotion.report.reasons) if promotion.report else "?"
        message = f"{name}@{version} not promoted ({promotion.previous} stays): {reasons}"
    return IterateOutcome(
        status="promoted" if promotion.promoted else "refused",
        adapter=name,
        data=data,
        version=version,
        promotion=promotion,
        message=message,
    )
