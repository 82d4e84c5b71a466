"""Adapters whose memorization audit failed are not served (``training/audit.py`` writes the result
into the adapter card); ``audit.allow_failed`` lets them through. The card is read through ``training.adapter_folder``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ragtune.errors import RagtuneError
from training.adapter_folder import card_data

log = logging.getLogger(__name__)


class AuditFailedError(RagtuneError):
    """The adapter failed its memorization audit and the settings do not allow serving it."""

    status_code = 409


def audit_refusal(name: str, folder: Path) -> str | None:
    """Why adapter ``name`` in ``folder`` (or its parent, for the ``NAME/adapter/`` layout) must not
    be served, or None when it has no failed audit."""
    card = card_data(folder) or {}
    audit = card.get("audit")
    if not isinstance(audit, dict) or audit.get("passed") is not False:
        return None
    reasons = "; ".join(audit.get("reasons") or ["no reason recorded"])
    return (
        f"adapter '{name}' failed its memorization audit ({reasons}); retrain it without the "
        f"leaked data or set RAGTUNE_AUDIT__ALLOW_FAILED=true to serve it anyway"
    )


def check_audit(name: str, folder: Path, allow_failed: bool) -> None:
    """Raise AuditFailedError (409, with the reason) for an adapter whose audit failed, unless allowed."""
    if allow_failed:
        return
    reason = audit_refusal(name, folder)
    if reason is not None:
        raise AuditFailedError(reason)


def servable(adapters: dict[str, Path], allow_failed: bool) -> dict[str, Path]:
    """``adapters`` without those whose audit failed (each refusal logged with its reason)."""
    if allow_failed:
        return adapters
    kept = {}
    for name, folder in adapters.items():
        reason = audit_refusal(name, folder)
        if reason is None:
            kept[name] = folder
        else:
            log.warning("not serving %s", reason)
    return kept
