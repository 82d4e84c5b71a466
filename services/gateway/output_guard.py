"""The output guard: masks personal data in answers (streamed or not) for tenants that ask for it
(``TenantSettings.mask_output_pii``; ``gateway.mask_output_pii`` for the local user) with the same
engine as data prep and indexing (``ragtune.pii``), and counts what it masked by kind
(``ragtune_output_pii_masked_total{kind}`` on /metrics).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from ragtune.pii import PiiEngine, PiiMasker, StreamMasker
from ragtune.settings import PiiSettings


class OutputGuard:
    """Masks answers; one PiiMasker per answer, so placeholders are consistent within it."""

    def __init__(self, pii: PiiSettings, registry: CollectorRegistry) -> None:
        self.engine = PiiEngine(pii)
        self.masked = Counter(
            "ragtune_output_pii_masked", "Personal data masked in answers, by kind.", ["kind"], registry=registry
        )

    def mask(self, text: str) -> str:
        """``text`` with personal data replaced by placeholders (counted)."""
        masker = PiiMasker(self.engine)
        masked = masker.mask(text)
        self.count(masker)
        return masked

    def stream(self) -> StreamMasker:
        """A masker for one streamed answer; call ``count(stream.masker)`` once it is flushed."""
        return StreamMasker(PiiMasker(self.engine))

    def count(self, masker: PiiMasker) -> None:
        for kind, number in masker.counts().items():
            self.masked.labels(kind).inc(number)
