"""PII detection and masking shared by training data prep, the indexer and the gateway.

``PiiEngine(settings.pii).find(text)`` returns the spans of personal data; ``PiiMasker`` replaces
them with placeholders consistent within one document (``[EMAIL_1]``, ``[PERSON_2]``…) and counts
them by kind; ``StreamMasker`` does the same for text arriving in pieces. See README.md here.
"""

from ragtune.pii.engine import PiiEngine, PiiMasker, StreamMasker, resolve_overlaps
from ragtune.pii.recognizers import CHECKSUM_KINDS, PII_KINDS, Span

__all__ = ["CHECKSUM_KINDS", "PII_KINDS", "PiiEngine", "PiiMasker", "Span", "StreamMasker", "resolve_overlaps"]
