"""Masking of personal data in training examples with consistent placeholders.

Detectors (all offline):

* ``EMAIL`` — addresses ``local@domain.tld``.
* ``IBAN`` — two letters, two check digits and 11-30 letters/digits (spaces allowed), kept only
  when the ISO 13616 mod-97 check passes.
* ``CARD`` — 13-19 digits, optionally grouped by spaces or dashes, kept only when the Luhn check passes.
* ``PHONE`` — Google's libphonenumber (``phonenumbers``), valid numbers only; numbers without a
  country code are read in the configured region (default SE).
* ``PERSON`` — documented patterns (no offline NER model ships here): a title followed by
  capitalised words (``Mr/Mrs/Ms/Miss/Dr/Prof/Herr/Fru Anna Svensson``) and introductions
  (``my name is …``, ``this is …``, ``name: …``, ``contact person: …``, ``signed by …``,
  ``jag heter …``, ``mitt namn är …``). Sign-offs are not a cue: they usually carry the brand's name.
  Names written with no such cue are not detected.

The same value always maps to the same placeholder (``[EMAIL_1]``, ``[PERSON_2]``…) across one
dataset, so conversations stay coherent after masking.
"""

from __future__ import annotations

import re
from collections import Counter

import phonenumbers

PII_KINDS = ("EMAIL", "IBAN", "CARD", "PHONE", "PERSON")

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_NAME = r"[A-ZÅÄÖÉÜ][a-zåäöéüø]+(?:[- ][A-ZÅÄÖÉÜ][a-zåäöéüø]+){0,2}"
_PERSON_TITLE = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Fru)\.? (?P<name>{_NAME})")
_PERSON_INTRO = re.compile(
    rf"(?i:\b(?:my name is|this is|name:|contact person:|signed by|jag heter|mitt namn är))\s+(?P<name>{_NAME})"
)
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|IBAN|CARD|PHONE|PERSON)_\d+\]")


def _iban_valid(raw: str) -> bool:
    iban = raw.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _luhn_valid(raw: str) -> bool:
    digits = [int(c) for c in raw if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


class PiiMasker:
    """Replaces personal data with numbered placeholders, consistently across calls.

    ``allow`` lists strings never masked (e.g. the company's own name in a sign-off).
    """

    def __init__(self, phone_region: str = "SE", allow: list[str] | None = None) -> None:
        self.phone_region = phone_region
        self.allow = {a.lower() for a in (allow or [])}
        self._placeholders: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()
        self.found: Counter[str] = Counter()
        """Occurrences masked so far, by kind."""

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._placeholders:
            self._next[kind] += 1
            self._placeholders[key] = f"[{kind}_{self._next[kind]}]"
        self.found[kind] += 1
        return self._placeholders[key]

    def _sub(self, pattern: re.Pattern[str], kind: str, text: str, valid=None, group: str | int = 0,
             normalise=lambda v: v) -> str:
        def replace(match: re.Match[str]) -> str:
            value = match.group(group)
            if value.lower() in self.allow or (valid is not None and not valid(value)):
                return match.group(0)
            start, end = match.span(group)
            whole_start = match.start(0)
            prefix = match.group(0)[: start - whole_start]
            return prefix + self._placeholder(kind, normalise(value)) + match.group(0)[end - whole_start:]

        return pattern.sub(replace, text)

    def _phones(self, text: str) -> str:
        pieces: list[str] = []
        last = 0
        for match in phonenumbers.PhoneNumberMatcher(text, self.phone_region,
                                                     leniency=phonenumbers.Leniency.VALID):
            if _PLACEHOLDER.search(match.raw_string):
                continue
            normal = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            pieces.append(text[last:match.start])
            pieces.append(self._placeholder("PHONE", normal))
            last = match.end
        pieces.append(text[last:])
        return "".join(pieces)

    def mask(self, text: str) -> str:
        """``text`` with every detected personal datum replaced by its placeholder."""
        text = self._sub(_EMAIL, "EMAIL", text, normalise=str.lower)
        text = self._sub(_IBAN, "IBAN", text, valid=_iban_valid, normalise=lambda v: v.replace(" ", ""))
        text = self._sub(_CARD, "CARD", text, valid=_luhn_valid,
                         normalise=lambda v: "".join(c for c in v if c.isdigit()))
        text = self._phones(text)
        text = self._sub(_PERSON_TITLE, "PERSON", text, group="name")
        text = self._sub(_PERSON_INTRO, "PERSON", text, group="name")
        return self._known_names(text)

    def _known_names(self, text: str) -> str:
        """Mask names found earlier (with a cue) where they reappear without one."""
        for (kind, value), placeholder in self._placeholders.items():
            if kind == "PERSON" and value in text:
                text, count = re.subn(rf"\b{re.escape(value)}\b", placeholder, text)
                self.found["PERSON"] += count
        return text
