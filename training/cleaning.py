"""Text clean-up of training examples: encoding damage (ftfy) and whitespace."""

from __future__ import annotations

import re

import ftfy

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Repair mojibake and odd characters (ftfy), normalise line ends and collapse whitespace.

    Single newlines and paragraph breaks are kept; runs of spaces/tabs become one space.
    """
    fixed = ftfy.fix_text(text, normalization="NFC")
    fixed = fixed.replace("\r\n", "\n").replace("\r", "\n")
    fixed = _CONTROL.sub("", fixed)
    lines = [_SPACES.sub(" ", line).strip() for line in fixed.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def was_changed_by_encoding_fix(text: str) -> bool:
    """True when ftfy finds encoding damage in ``text`` (used for the report)."""
    return ftfy.fix_text(text, normalization="NFC") != text
