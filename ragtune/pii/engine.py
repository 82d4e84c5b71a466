"""The PII engine: runs the recognizers of the configured languages and regions, resolves overlaps,
and masks with placeholders that stay consistent within one document (or dataset, or answer stream).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import regex as re

from ragtune.pii import recognizers as rec
from ragtune.pii.recognizers import PII_KINDS, PLACEHOLDER, PRIORITY, Span
from ragtune.settings import PiiSettings


class PiiEngine:
    """Finds personal data in text. Stateless and thread-safe; build one per configuration.

    ``settings.languages`` choose the name and address cues, ``settings.regions`` the national IDs
    and the regions national-format phone numbers are read in, ``settings.kinds`` (empty = all)
    restricts what is looked for, ``settings.allow`` lists strings never masked (the brand's name).
    """

    def __init__(self, settings: PiiSettings | None = None, *, extra_allow: Iterable[str] = ()) -> None:
        self.settings = settings or PiiSettings()
        self.languages = tuple(lang.lower() for lang in self.settings.languages)
        self.regions = tuple(region.upper() for region in self.settings.regions)
        wanted = set(self.settings.kinds or PII_KINDS)
        unknown = wanted - set(PII_KINDS)
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {', '.join(PII_KINDS)}")
        self.kinds = tuple(
            k for k in PII_KINDS if k in wanted and (k not in rec.KIND_REGIONS or rec.KIND_REGIONS[k] in self.regions)
        )
        self.allow = frozenset(a.lower() for a in [*self.settings.allow, *extra_allow] if a.strip())

    def find(self, text: str) -> list[Span]:
        """Non-overlapping findings in ``text``, in order of position."""
        found: list[Span] = []
        for kind in self.kinds:
            if kind in rec.SIMPLE:
                found.extend(rec.SIMPLE[kind](text))
            elif kind == "PHONE":
                found.extend(rec.phones(text, self.regions))
            elif kind == "PERSON":
                found.extend(rec.persons(text, self.languages, self.allow))
            elif kind == "ADDRESS":
                found.extend(rec.addresses(text, self.languages))
        protected = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
        found = [
            s
            for s in found
            if s.value.lower() not in self.allow
            and not any(s.start < end and start < s.end for start, end in protected)
        ]
        return resolve_overlaps(found)


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the strongest of overlapping spans (kind priority, then length), in text order."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (PRIORITY[s.kind], -(s.end - s.start), s.start)):
        if all(span.end <= k.start or k.end <= span.start for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


class PiiMasker:
    """Replaces personal data with numbered placeholders (``[EMAIL_1]``, ``[PERSON_2]``), the same
    value always getting the same placeholder across every call on this masker, and counts what it
    masked by kind (``found``). A name found once with a cue is masked wherever it reappears
    (and a surname alone with the same placeholder)."""

    def __init__(self, engine: PiiEngine | None = None) -> None:
        self.engine = engine or PiiEngine()
        self._placeholders: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()
        self._known_names: dict[str, str] = {}
        self.found: Counter[str] = Counter()
        """Occurrences masked so far, by kind."""

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of ``value`` (a new number the first time a value of ``kind`` is seen)."""
        key = (kind, value.lower() if kind in ("PERSON", "EMAIL", "ADDRESS") else value)
        if key not in self._placeholders:
            self._next[kind] += 1
            self._placeholders[key] = f"[{kind}_{self._next[kind]}]"
        return self._placeholders[key]

    def spans(self, text: str) -> list[Span]:
        """What ``mask`` would replace in ``text``: the engine's findings plus known names."""
        spans = self.engine.find(text)
        for span in spans:
            if span.kind == "PERSON":
                self._remember_name(span.value)
        if self._known_names:
            spans = resolve_overlaps(spans + list(self._known_name_spans(text)))
        return spans

    def mask(self, text: str) -> str:
        """``text`` with every detected personal datum replaced by its placeholder."""
        pieces: list[str] = []
        last = 0
        for span in self.spans(text):
            pieces.append(text[last : span.start])
            value = self._known_names.get(span.value.lower()) if span.kind == "PERSON" else None
            pieces.append(value or self.placeholder(span.kind, span.value))
            self.found[span.kind] += 1
            last = span.end
        pieces.append(text[last:])
        return "".join(pieces)

    def counts(self) -> dict[str, int]:
        """Masked occurrences by kind, in ``PII_KINDS`` order, kinds never seen left out."""
        return {kind: self.found[kind] for kind in PII_KINDS if self.found[kind]}

    def _remember_name(self, name: str) -> None:
        placeholder = self.placeholder("PERSON", name)
        self._known_names.setdefault(name.lower(), placeholder)
        words = name.split()
        if len(words) > 1 and len(words[-1]) > 2:
            self._known_names.setdefault(words[-1].lower(), placeholder)

    def _known_name_spans(self, text: str) -> Iterable[Span]:
        names = sorted(self._known_names, key=len, reverse=True)
        pattern = re.compile(r"(?<![\w])(?i:" + "|".join(re.escape(n) for n in names) + r")(?![\w])")
        for m in pattern.finditer(text):
            if m.group(0)[0].isupper():
                yield Span("PERSON", m.start(), m.end(), m.group(0))


class StreamMasker:
    """Masks text that arrives in pieces (a streamed answer) without splitting a datum: text is held
    back until a sentence boundary at least ``hold`` characters before the end of what arrived, then
    masked and released; ``flush`` releases the rest."""

    _BOUNDARY = re.compile(r"[.!?;:]\s+|\n")

    def __init__(self, masker: PiiMasker, hold: int = 96) -> None:
        self.masker = masker
        self.hold = hold
        self._pending = ""

    def feed(self, piece: str) -> str:
        """Masked text that is safe to release now ('' while held back)."""
        self._pending += piece
        limit = len(self._pending) - self.hold
        if limit <= 0:
            return ""
        cut = 0
        for m in self._BOUNDARY.finditer(self._pending, 0, limit):
            cut = m.end()
        if cut == 0:
            if len(self._pending) < 4 * self.hold:
                return ""
            cut = self._pending.rfind(" ", 0, limit) + 1 or limit  # no sentence end in a long stretch
        spans = self.masker.engine.find(self._pending)
        if any(s.start < cut < s.end for s in spans):
            return ""
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self.masker.mask(ready)

    def flush(self) -> str:
        """Everything still held back, masked."""
        ready, self._pending = self._pending, ""
        return self.masker.mask(ready) if ready else ""
