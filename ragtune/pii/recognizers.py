"""Recognizers: each finds one kind of personal datum in a text and returns its spans.

Checksummed kinds are validated with python-stdnum (IBAN mod-97, Luhn, codice fiscale, partita IVA,
personnummer, organisationsnummer, Steuer-ID, NIR, DNI/NIE, EU VAT numbers), phone numbers with
Google's libphonenumber (``phonenumbers``), IP addresses with the standard ``ipaddress`` module.
Names and street addresses are patterns around the context words of ``ragtune.pii.cues``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import regex as re
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.eu import vat as eu_vat
from stdnum.fr import nir
from stdnum.it import codicefiscale, iva
from stdnum.se import orgnr, personnummer

from ragtune.pii import cues

KIND_REGIONS: dict[str, str] = {
    "IT_FISCAL_CODE": "IT",
    "IT_VAT": "IT",
    "SE_PERSONNUMMER": "SE",
    "SE_ORGNR": "SE",
    "DE_TAX_ID": "DE",
    "FR_NIR": "FR",
    "ES_DNI": "ES",
}
"""National kinds and the region (ISO 3166) that enables them."""

CHECKSUM_KINDS = (
    "IBAN",
    "CARD",
    "IT_FISCAL_CODE",
    "IT_VAT",
    "SE_PERSONNUMMER",
    "SE_ORGNR",
    "DE_TAX_ID",
    "FR_NIR",
    "ES_DNI",
    "EU_VAT",
)
PII_KINDS = ("EMAIL", "PHONE", *CHECKSUM_KINDS, "IP_ADDRESS", "SECRET", "PERSON", "ADDRESS")
"""Every kind the engine knows, in the order reports list them."""

PRIORITY = {
    kind: rank
    for rank, kind in enumerate(
        (
            "SECRET",
            "EMAIL",
            "IBAN",
            "EU_VAT",
            "IT_FISCAL_CODE",
            "FR_NIR",
            "SE_PERSONNUMMER",
            "SE_ORGNR",
            "ES_DNI",
            "IT_VAT",
            "DE_TAX_ID",
            "CARD",
            "IP_ADDRESS",
            "PHONE",
            "ADDRESS",
            "PERSON",
        )
    )
}
"""Which kind wins when two findings overlap (lower first), then the longer one."""


@dataclass(frozen=True, slots=True)
class Span:
    """One detected datum: ``text[start:end]`` of ``kind``; ``value`` is its normal form (the key of
    its placeholder: the same person or IBAN written twice gets one placeholder)."""

    kind: str
    start: int
    end: int
    value: str


PLACEHOLDER = re.compile(r"\[(?:[A-Z]+_)*[A-Z]+_\d+\]")
_WORD_BEFORE = re.compile(r"[\w.\-/#]$")


def _compact(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isalnum()).upper()


def _cue_before(text: str, start: int, words: Iterable[str], window: int = 40) -> bool:
    """True when one of ``words`` ends within ``window`` characters before ``start`` on the same line."""
    before = text[max(0, start - window) : start].lower()
    before = before.rsplit("\n", 1)[-1]
    for word in words:
        at = before.rfind(word)
        if at >= 0 and (at == 0 or not before[at - 1].isalnum()):
            after = at + len(word)
            if after >= len(before) or not before[after].isalpha() or not word[-1].isalpha():
                return True
    return False


def _boundaries(match_text: str) -> list[int]:
    """End positions inside a greedy match where a shorter candidate may end (before a separator)."""
    ends = [i + 1 for i, ch in enumerate(match_text[:-1]) if ch.isalnum() and not match_text[i + 1].isalnum()]
    return sorted(set(ends + [len(match_text)]), reverse=True)


def _longest_valid(
    text: str,
    pattern: re.Pattern[str],
    kind: str,
    valid: Callable[[str], bool],
    normal: Callable[[str], str] = _compact,
) -> Iterator[Span]:
    """Spans of ``pattern`` trimmed back to the longest prefix ``valid`` accepts (greedy matches of
    grouped numbers often run into the next number or word)."""
    for match in pattern.finditer(text):
        raw = match.group(0)
        for end in _boundaries(raw):
            candidate = raw[:end]
            if valid(candidate):
                yield Span(kind, match.start(), match.start() + end, normal(candidate))
                break


# --- simple patterns --------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.\p{L}{2,}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_IBAN = re.compile(r"(?<![\p{L}\d])[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,32}")
_CARD = re.compile(r"(?<![\d\-.,])\d(?:[ \-]?\d){12,20}(?![\d])")
_CF = re.compile(
    r"(?<![\p{L}\d])[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{2}"
    r"[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z](?![\p{L}\d])"
)
_IT_VAT = re.compile(r"(?<![\p{L}\d\-/])\d{11}(?![\d\-/])")
_SE_PNR = re.compile(r"(?<![\d\-/.])(?:\d{2})?\d{6}[\-+ ]?\d{4}(?![\d\-/])")
_SE_ORGNR = re.compile(r"(?<![\d\-/.])(?:16)?\d{6}-?\d{4}(?![\d\-/])")
_DE_IDNR = re.compile(r"(?<![\d\-/.])\d{2} ?\d{3} ?\d{3} ?\d{3}(?![\d\-/])")
_FR_NIR = re.compile(
    r"(?<![\d\-/.])[12][ .]?\d{2}[ .]?\d{2}[ .]?(?:\d{2}|2[ABab])[ .]?\d{3}[ .]?\d{3}[ .]?\d{2}"
    r"(?![\d\-/])"
)
_ES_DNI = re.compile(r"(?<![\p{L}\d])\d{8}[\- ]?[A-Za-z](?![\p{L}\d])")
_ES_NIE = re.compile(r"(?<![\p{L}\d])[XYZxyz][\- ]?\d{7}[\- ]?[A-Za-z](?![\p{L}\d])")
_EU_VAT = re.compile(
    r"(?<![\p{L}\d])(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|"
    r"RO|SE|SI|SK|XI|GB|CHE)[ \-]?[0-9A-Z](?:[ .]?[0-9A-Z]){7,13}(?![\p{L}\d])"
)
_SECRET_LABELLED = re.compile(
    r"(?i:password|passwort|passord|lösenord|mot de passe|contraseña|parola d'ordine|pwd|pin|api[_ \-]?key|"
    r"secret|access[_ ]?token|token|chiave)(?:[ \t]+[\p{L}']+){0,3}?\s*(?:is|è|är|ist|est|es|lautet|:|=)\s*[\"'“]?(?P<v>[^\s\"'”]{6,})"  # noqa: E501 - one regex
)
_SECRET_SHAPES = re.compile(
    r"(?<![\w-])(?:(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|"
    r"xox[abp]-[A-Za-z0-9\-]{10,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"
)


def emails(text: str) -> Iterator[Span]:
    for m in _EMAIL.finditer(text):
        value = m.group(0).rstrip(".")
        yield Span("EMAIL", m.start(), m.start() + len(value), value.lower())


def ip_addresses(text: str) -> Iterator[Span]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            raw = m.group(0)
            if pattern is _IPV6 and (raw.count(":") < 2 or sum(c.isalnum() for c in raw) < 3):
                continue
            if _cue_before(text, m.start(), ("version", "versione", "v", "ver.", "release", "build"), 12):
                continue
            try:
                address = ipaddress.ip_address(raw)
            except ValueError:
                continue
            yield Span("IP_ADDRESS", m.start(), m.end(), str(address))


def ibans(text: str) -> Iterator[Span]:
    return _longest_valid(text, _IBAN, "IBAN", lambda c: std_iban.is_valid(_compact(c)))


def _card_valid(candidate: str) -> bool:
    digits = _compact(candidate)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1 and luhn.is_valid(digits)


def cards(text: str) -> Iterator[Span]:
    for span in _longest_valid(text, _CARD, "CARD", _card_valid):
        if span.end - span.start < 15 and not _cue_before(
            text, span.start, ("card", "carta", "kort", "karte", "carte", "tarjeta", "visa")
        ):
            continue  # 13-14 digits are usually article numbers (EAN-13) unless called a card
        yield span


def fiscal_codes(text: str) -> Iterator[Span]:
    for m in _CF.finditer(text):
        if codicefiscale.is_valid(m.group(0).upper()):
            yield Span("IT_FISCAL_CODE", m.start(), m.end(), m.group(0).upper())


def _with_cue(text: str, pattern: re.Pattern[str], kind: str, valid: Callable[[str], bool]) -> Iterator[Span]:
    for m in pattern.finditer(text):
        if valid(_compact(m.group(0))) and _cue_before(text, m.start(), cues.ID_CUES[kind]):
            yield Span(kind, m.start(), m.end(), _compact(m.group(0)))


def it_vat(text: str) -> Iterator[Span]:
    return _with_cue(text, _IT_VAT, "IT_VAT", iva.is_valid)


def se_personnummer(text: str) -> Iterator[Span]:
    for m in _SE_PNR.finditer(text):
        raw = m.group(0)
        if " " in raw and len(_compact(raw)) != 10:
            continue
        if personnummer.is_valid(raw.replace(" ", "-")):
            yield Span("SE_PERSONNUMMER", m.start(), m.end(), _compact(raw)[-10:])


def se_orgnr(text: str) -> Iterator[Span]:
    for m in _SE_ORGNR.finditer(text):
        raw = _compact(m.group(0))[-10:]
        if (
            orgnr.is_valid(raw)
            and not personnummer.is_valid(raw)
            and ("-" in m.group(0) or _cue_before(text, m.start(), cues.ID_CUES["SE_ORGNR"]))
        ):
            yield Span("SE_ORGNR", m.start(), m.end(), raw)


def de_tax_id(text: str) -> Iterator[Span]:
    return _with_cue(text, _DE_IDNR, "DE_TAX_ID", idnr.is_valid)


def fr_nir(text: str) -> Iterator[Span]:
    for m in _FR_NIR.finditer(text):
        if nir.is_valid(_compact(m.group(0))):
            yield Span("FR_NIR", m.start(), m.end(), _compact(m.group(0)))


def es_dni(text: str) -> Iterator[Span]:
    for pattern, module in ((_ES_DNI, dni), (_ES_NIE, nie)):
        for m in pattern.finditer(text):
            if module.is_valid(_compact(m.group(0))):
                yield Span("ES_DNI", m.start(), m.end(), _compact(m.group(0)))


def eu_vat_numbers(text: str) -> Iterator[Span]:
    return _longest_valid(text, _EU_VAT, "EU_VAT", lambda c: eu_vat.is_valid(_compact(c)))


def secrets(text: str) -> Iterator[Span]:
    for m in _SECRET_LABELLED.finditer(text):
        value = m.group("v").rstrip(".,;:!?)")
        if len(value) >= 6 and not PLACEHOLDER.fullmatch(value):
            yield Span("SECRET", m.start("v"), m.start("v") + len(value), value)
    for m in _SECRET_SHAPES.finditer(text):
        yield Span("SECRET", m.start(), m.end(), m.group(0))


# --- phone numbers ------------------------------------------------------------------------------
def phones(text: str, regions: tuple[str, ...]) -> Iterator[Span]:
    """Valid numbers of any region when written with + or 00; national-format numbers (valid in one
    of ``regions``) only after a phone word or when written in groups of at least 9 digits in all
    (an unbroken run of digits without a phone word is more often a code or an ID)."""
    seen: set[tuple[int, int]] = set()
    for region in regions or ("SE",):
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            span = (match.start, match.end)
            raw = match.raw_string
            if span in seen or PLACEHOLDER.search(raw):
                continue
            international = raw.lstrip("(").startswith(("+", "00"))
            digits = sum(c.isdigit() for c in raw)
            if not international:
                if _WORD_BEFORE.search(text[: match.start]) or text[match.end : match.end + 1] in ("-", "/"):
                    continue  # part of a code such as PRD-912-345-678
                grouped = any(c in " -./()" for c in raw.strip())
                if not (_cue_before(text, match.start, cues.PHONE_CUES) or (digits >= 9 and grouped)):
                    continue
            seen.add(span)
            value = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            yield Span("PHONE", match.start, match.end, value)


# --- names --------------------------------------------------------------------------------------
_NAME_WORD = r"(?:\p{Lu}['’])?\p{Lu}\p{Ll}+(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}\p{Ll}+)?"
_PARTICLE = r"(?:d[aei]|de[il]|della|dei|degli|van|von|der|den|du|le|la|y|af|zu|dos|das|do|De|Di|Da|Del|Van|Von|Le|La)"
_NAME = rf"(?P<name>{_NAME_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_WORD}){{0,3}})"


@lru_cache(maxsize=16)
def _name_patterns(languages: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    phrases = sorted({p for lang in languages for p in cues.NAME_PHRASES.get(lang, ())}, key=len, reverse=True)
    titles = sorted({t for lang in languages for t in cues.NAME_TITLES.get(lang, ())}, key=len, reverse=True)
    phrase_re = "|".join(re.escape(p).replace(r"\ ", r"[ \t]+") for p in phrases)
    title_re = "|".join(re.escape(t) for t in titles)
    by_phrase = re.compile(rf"(?<![\w.])(?P<cue>(?i:{phrase_re}))[ \t]*(?:,[ \t]*)?{_NAME}")
    by_title = re.compile(rf"(?<![\w.])(?P<cue>{title_re})[ \t]+{_NAME}")
    return by_phrase, by_title


_TITLE_WORDS = frozenset(t.rstrip(".") for titles in cues.NAME_TITLES.values() for t in titles)


def _trim_name(name: str) -> str:
    """Drop trailing words that are stop words ("Anna Rossi The" never happens, "Mario Rossi Per" can)."""
    words = name.split()
    while words and words[-1].lower() in cues.NOT_NAMES:
        words.pop()
    return " ".join(words)


def persons(text: str, languages: tuple[str, ...], allow: frozenset[str]) -> Iterator[Span]:
    """Capitalised word sequences (accented letters included) after a name cue of ``languages``."""
    by_phrase, by_title = _name_patterns(languages)
    for pattern in (by_phrase, by_title):
        for m in pattern.finditer(text, overlapped=True):
            cue = m.group("cue").lower()
            name = _trim_name(m.group("name"))
            words = name.split()
            if not words or words[0].lower() in cues.NOT_NAMES or name.lower() in allow or words[0] in _TITLE_WORDS:
                continue
            if any(w.lower() in allow for w in words):
                continue
            if pattern is by_phrase and cue in cues.TWO_WORD_PHRASES and len(words) < 2:
                continue
            start = m.start("name")
            yield Span("PERSON", start, start + len(name), name)


# --- street addresses ---------------------------------------------------------------------------
_STREET_NAME_WORD = (
    r"(?:\p{Lu}[\p{L}'’.\-]*|[IVXLC]+|\d{1,2}|d[aei]|de[il]?|della|delle|degli|dei|dello|al|alla|"
    r"ai|del|la|las|los|l'|du|des|de la|d'|von|am|an der)"
)
_HOUSE_NUMBER = r"\d{1,4}(?:[ ]?[A-Za-z](?![\p{L}]))?(?:/\d{1,3})?"
_POSTCODE_CITY = (
    r"(?:,?[ \t]+(?:[A-Z]{1,2}-)?(?:\d{5}|\d{3}[ ]\d{2}|\d{4})[ \t]+\p{Lu}\p{Ll}+(?:[ \t]\p{Lu}\p{Ll}+)?"
    r"(?:[ \t]\([A-Z]{2}\))?)?"
)


@lru_cache(maxsize=16)
def _address_patterns(languages: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    patterns = []
    for lang in ("it", "es"):
        if lang in languages:
            patterns.append(
                rf"(?<![\w])(?:{cues.ADDRESS_STREET_WORDS[lang]})[ \t]+{_STREET_NAME_WORD}"
                rf"(?:[ \t]+{_STREET_NAME_WORD}){{0,5}}[ \t]*,?[ \t]*(?:n\.?[ºo°]?[ \t]*)?"
                rf"{_HOUSE_NUMBER}(?!\d){_POSTCODE_CITY}"
            )
    if "fr" in languages:
        patterns.append(
            rf"(?<![\w])\d{{1,4}}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:{cues.ADDRESS_STREET_WORDS['fr']})"
            rf"[ \t]+(?:{_STREET_NAME_WORD}[ \t]+){{0,4}}\p{{Lu}}[\p{{L}}'’\-]+{_POSTCODE_CITY}"
        )
    for lang in ("sv", "de"):
        if lang in languages:
            suffixes = cues.ADDRESS_STREET_SUFFIXES[lang]
            patterns.append(
                rf"(?<![\w])(?=\p{{Lu}})(?:\p{{Lu}}\p{{L}}+[ \t\-])?(?:\p{{Lu}}[\p{{L}}\-]*)?(?i:{suffixes})"
                rf"(?<!\.)(?:[ \t]|\.[ \t]?)(?<![\w]){_HOUSE_NUMBER}(?!\d){_POSTCODE_CITY}"
            )
    if "de" in languages:
        patterns.append(
            rf"(?<![\w])(?:Am|An der|Auf der|Im|Zum|Zur|In der)[ \t]+\p{{Lu}}\p{{L}}+[ \t]+"
            rf"{_HOUSE_NUMBER}(?!\d){_POSTCODE_CITY}"
        )
    if "en" in languages:
        patterns.append(
            rf"(?<![\w])\d{{1,5}}[A-Za-z]?[ \t]+(?:\p{{Lu}}[\p{{L}}'’\-]+[ \t]+){{1,3}}"
            rf"(?:{cues.ADDRESS_EN_TYPES})(?![\p{{L}}])"
        )
    return tuple(re.compile(p) for p in patterns)


def addresses(text: str, languages: tuple[str, ...]) -> Iterator[Span]:
    """Street addresses (best effort): street-type word, street name and house number, optionally
    followed by postcode and city, in the configured languages' usual orders."""
    for pattern in _address_patterns(languages):
        for m in pattern.finditer(text):
            value = m.group(0).rstrip(" ,.")
            if not any(c.isdigit() for c in value):
                continue
            yield Span("ADDRESS", m.start(), m.start() + len(value), " ".join(value.split()))


SIMPLE: dict[str, Callable[[str], Iterable[Span]]] = {
    "EMAIL": emails,
    "IP_ADDRESS": ip_addresses,
    "IBAN": ibans,
    "CARD": cards,
    "IT_FISCAL_CODE": fiscal_codes,
    "IT_VAT": it_vat,
    "SE_PERSONNUMMER": se_personnummer,
    "SE_ORGNR": se_orgnr,
    "DE_TAX_ID": de_tax_id,
    "FR_NIR": fr_nir,
    "ES_DNI": es_dni,
    "EU_VAT": eu_vat_numbers,
    "SECRET": secrets,
}
"""Recognizers that need only the text."""
