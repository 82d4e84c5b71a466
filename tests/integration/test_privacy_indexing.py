"""Masking personal data when indexing: per run (``--mask-pii``) and per namespace (real store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer import DocumentStore
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.integration

LETTER = (
    "# Offerta\n\nGentile Sig. Rossi, come da accordi la contattiamo al +39 333 123 4567.\n"
    "Il bonifico va fatto sull'IBAN it60 x054 2811 1010 0000 0123 456. Cordiali saluti, Rossi Costruzioni "
    "(scriveteci a info.rossi@example.com). Il tetto in coppi dura cinquant'anni.\n"
)


def test_masked_namespace_stores_placeholders_and_reports_kinds(tmp_path: Path, embedder_path: Path) -> None:
    source = tmp_path / "docs" / "offerta.md"
    source.parent.mkdir()
    source.write_text(LETTER, encoding="utf-8")
    config = IndexSettings(mask_pii_namespaces=["clients"])
    with DocumentStore.open(tmp_path / "index", embedder_path, config) as store:
        masked = store.add_paths([source], namespace="clients")
        plain = store.add_paths([source], namespace="public")
        hits = store.search("tetto in coppi", k=3, namespace="clients")
        public_hits = store.search("tetto in coppi", k=3, namespace="public")
    assert masked.pii_masked == {"EMAIL": 1, "PHONE": 1, "IBAN": 1, "PERSON": 2}
    assert "PII masked: EMAIL 1" in masked.summary()
    assert plain.pii_masked == {}
    text = " ".join(h.text for h in hits)
    for secret in ("333 123 4567", "it60", "info.rossi@example.com", "Rossi"):
        assert secret not in text
    assert "[PERSON_1]" in text and "[IBAN_1]" in text and "cinquant'anni" in text
    assert "info.rossi@example.com" in " ".join(h.text for h in public_hits)
