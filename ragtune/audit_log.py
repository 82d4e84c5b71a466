"""The append-only audit log of administrative actions (documents, adapters, keys, promotions).

One JSON line per action in ``RAGTUNE_HOME/audit.jsonl``, written by the gateway and the CLI alike.
Each entry carries the SHA-256 of the line before it, so an edited or deleted line breaks the chain
and ``verify()`` says where. Lines are appended with ``O_APPEND`` and fsynced; nothing rewrites
the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

GENESIS = "0" * 64
"""The ``previous`` hash of the first entry."""


class AuditEntry(BaseModel):
    """One administrative action."""

    at: datetime
    actor: str
    """Who acted: a tenant name, ``local`` (the keyless loopback user) or ``cli:<user>``."""
    action: str
    """What was done, e.g. ``document.add``, ``adapter.unload``, ``adapter.promote``."""
    target: str
    """What it was done to: a document id, an adapter name (``NAME@VERSION``), a key prefix."""
    detail: dict[str, Any] = Field(default_factory=dict)
    previous: str = GENESIS
    """SHA-256 of the previous line (hex)."""


class AuditChainError(RuntimeError):
    """The log was edited: line ``line`` does not follow from the one before."""

    def __init__(self, line: int) -> None:
        super().__init__(f"audit log chain broken at line {line}: the log was edited or truncated")
        self.line = line


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


class AuditLog:
    """Append and read the audit log at ``path`` (created on first append)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def in_home(cls, home: Path) -> AuditLog:
        """The log of a ragtune home folder."""
        return cls(Path(home) / "audit.jsonl")

    def _last_digest(self) -> str:
        if not self.path.exists():
            return GENESIS
        last = ""
        with self.path.open("rb") as handle:
            for raw in handle:
                if raw.strip():
                    last = raw.decode().rstrip("\n")
        return _digest(last) if last else GENESIS

    def append(self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> AuditEntry:
        """Record one action and return it."""
        with self._lock:
            entry = AuditEntry(
                at=datetime.now(UTC),
                actor=actor,
                action=action,
                target=target,
                detail=detail or {},
                previous=self._last_digest(),
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = entry.model_dump_json() + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return entry

    def read(
        self, *, since: datetime | None = None, action: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries oldest first, filtered by time and action prefix; the newest ``limit`` of them."""
        if not self.path.exists():
            return []
        entries = []
        for raw in self.path.read_text().splitlines():
            if not raw.strip():
                continue
            entry = AuditEntry.model_validate(json.loads(raw))
            if since is not None and entry.at < since:
                continue
            if action is not None and not entry.action.startswith(action):
                continue
            entries.append(entry)
        return entries[-limit:] if limit else entries

    def verify(self) -> int:
        """The number of entries, or AuditChainError at the first line that breaks the chain."""
        if not self.path.exists():
            return 0
        previous = GENESIS
        count = 0
        for number, raw in enumerate(self.path.read_text().splitlines(), start=1):
            if not raw.strip():
                continue
            if json.loads(raw).get("previous") != previous:
                raise AuditChainError(number)
            previous = _digest(raw)
            count += 1
        return count
