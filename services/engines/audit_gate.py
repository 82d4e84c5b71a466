"""Adapters whose memorization audit failed are not served (``training/audit.py`` writes the result
into the adapter card); ``audit.allow_failed`` lets them through. Read from the card's JSON directly,
so the engines need nothing else of ``training``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ragtune.errors import RagtuneError

log = logging.getLogger(__name__)
CARD_FILE = "adapter_card.json"


class AuditFailedError(RagtuneError):
    """The adapter failed its memorization audit and the settings do not allow serving it."""

    status_code = 409


def audit_refusal(name: str, folder: Path) -> str | None:
    """Why adapter ``name`` in ``folder`` (or its parent, for the ``NAME/adapter/`` layout) must not
    be served, or None when it has no failed audit."""
    for candidate in (Path(folder), Path(folder).parent):
        try:
            card = json.loads((candidate / CARD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        audit = card.get("audit") if isinstance(card, dict) else None
        if isinstance(audit, dict) and audit.get("passed") is False:
            reasons = "; ".join(audit.get("reasons") or ["no reason recorded"])
            return (f"adapter '{name}' failed its memorization audit ({reasons}); retrain it without the "
                    f"leaked data or set RAGTUNE_AUDIT__ALLOW_FAILED=true to serve it anyway")
        return None
    return None


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
