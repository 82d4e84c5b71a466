"""The append-only audit log (ragtune/audit_log.py)."""

from __future__ import annotations

import pytest

from ragtune.audit_log import AuditChainError, AuditLog

pytestmark = pytest.mark.unit


def test_append_read_filter_and_verify(tmp_path) -> None:
    log = AuditLog.in_home(tmp_path)
    assert log.read() == [] and log.verify() == 0
    log.append("a", "document.add", "doc-1", {"namespace": "default"})
    log.append("cli:ops", "adapter.promote", "voice@v2", {"forced": True, "reason": "hotfix"})
    log.append("a", "document.delete", "doc-1")
    assert [e.action for e in log.read()] == ["document.add", "adapter.promote", "document.delete"]
    assert [e.target for e in log.read(action="document.")] == ["doc-1", "doc-1"]
    assert log.read(limit=1)[0].action == "document.delete"
    assert log.verify() == 3
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_an_edited_line_breaks_the_chain(tmp_path) -> None:
    log = AuditLog.in_home(tmp_path)
    for n in range(3):
        log.append("a", "document.add", f"doc-{n}")
    lines = log.path.read_text().splitlines()
    lines[1] = lines[1].replace("doc-1", "doc-X")
    log.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditChainError) as broken:
        log.verify()
    assert broken.value.line == 3
