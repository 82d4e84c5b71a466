"""The gateway's privacy parts without a model: the audit gate and the output guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ragtune.settings import PiiSettings
from services.engines.audit_gate import (
    AuditFailedError,
    audit_refusal,
    check_audit,
    servable,
)
from services.gateway.output_guard import OutputGuard

pytestmark = pytest.mark.unit


def _adapter(folder: Path, audit: dict | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_card.json").write_text(json.dumps({"name": folder.name, "audit": audit}))
    return folder


def test_failed_audit_is_refused_with_its_reason(tmp_path: Path) -> None:
    leaky = _adapter(
        tmp_path / "leaky", {"passed": False, "reasons": ["canary canary-1 (inserted 8×) is completed exactly"]}
    )
    clean = _adapter(tmp_path / "clean", {"passed": True, "reasons": []})
    unaudited = _adapter(tmp_path / "old", None)
    reason = audit_refusal("leaky", leaky)
    assert "failed its memorization audit" in reason and "canary-1" in reason and "ALLOW_FAILED" in reason
    assert audit_refusal("clean", clean) is None and audit_refusal("old", unaudited) is None
    with pytest.raises(AuditFailedError, match="completed exactly") as caught:
        check_audit("leaky", leaky, allow_failed=False)
    assert caught.value.status_code == 409
    check_audit("leaky", leaky, allow_failed=True)
    adapters = {"leaky": leaky, "clean": clean, "old": unaudited}
    assert servable(adapters, allow_failed=False) == {"clean": clean, "old": unaudited}
    assert servable(adapters, allow_failed=True) == adapters
    nested = tmp_path / "nested"
    _adapter(nested, {"passed": False, "reasons": ["x"]})
    (nested / "adapter").mkdir()
    assert audit_refusal("nested", nested / "adapter") is not None


def test_output_guard_masks_and_counts() -> None:
    registry = CollectorRegistry()
    guard = OutputGuard(PiiSettings(), registry)
    answer = "Hej! Ring Anna på +46 70 123 45 67 eller mejla anna@firma.se."
    assert guard.mask(answer) == "Hej! Ring Anna på [PHONE_1] eller mejla [EMAIL_1]."
    stream = guard.stream()
    pieces = ["Mitt namn är Åsa ", "Öberg, mitt personnummer är 8112", "18-9876. Tack!"]
    out = "".join(stream.feed(p) for p in pieces) + stream.flush()
    guard.count(stream.masker)
    assert out == "Mitt namn är [PERSON_1], mitt personnummer är [SE_PERSONNUMMER_1]. Tack!"
    metrics = generate_latest(registry).decode()
    assert 'ragtune_output_pii_masked_total{kind="PHONE"} 1.0' in metrics
    assert 'ragtune_output_pii_masked_total{kind="SE_PERSONNUMMER"} 1.0' in metrics
