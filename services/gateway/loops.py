"""Degenerate-loop detection for generated answers (pure: no engine, no I/O).

Small models at temperature 0 fall into loops ("The answer is no. The answer is no. …",
"Zaragoza AB — Zaragoza AB — …"). ``LoopDetector`` is fed the answer as it streams and reports the
first loop it sees, with where to cut the answer so one copy of the repeated unit is kept:

- an **n-gram run**: the last words are one unit of ``p`` words repeated back to back at least
  ``min_run_repeats`` times (a single word needs ``min_word_repeats``);
- a **repeated segment**: the same line or sentence (normalised, at least ``min_segment_chars``
  characters with a letter) occurs ``min_segment_repeats`` times anywhere in the answer.

Lists, tables and a sign-off written twice are not loops: list items differ, and a unit must come
three times. Only complete words and segments count while streaming (a word is complete when
whitespace follows it), so a half-streamed word never triggers; ``finish`` checks the tail.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Literal

from ragtune.settings import LoopSettings

_WORD = re.compile(r"\S+")
_SEGMENT_END = re.compile(r"\n+|(?<=[.!?])\s+")
_LETTER = re.compile(r"[^\W\d_]")
_EDGE_PUNCTUATION = string.punctuation + "“”‘’«»…"


@dataclass(frozen=True)
class Loop:
    """A loop found in an answer: ``text[:cut]`` keeps everything before the unit's second copy."""

    cut: int
    kind: Literal["ngram", "segment"]
    unit: str


def _word_key(word: str) -> str:
    stripped = word.strip(_EDGE_PUNCTUATION).lower()
    return stripped or word


def _segment_key(segment: str) -> str:
    return " ".join(segment.lower().split()).rstrip(_EDGE_PUNCTUATION + " ")


@dataclass
class LoopDetector:
    """Feed an answer piece by piece; ``loop`` is set (and stays) once the answer repeats itself."""

    settings: LoopSettings = field(default_factory=LoopSettings)
    text: str = ""
    loop: Loop | None = None
    _words: list[str] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _ends: list[int] = field(default_factory=list)
    _word_pos: int = 0
    _segment_pos: int = 0
    _segments: dict[str, list[int]] = field(default_factory=dict)

    def feed(self, piece: str) -> Loop | None:
        """Add streamed text; the loop, once one is complete."""
        if self.loop is None:
            self.text += piece
            self.loop = self._scan(final=False)
        return self.loop

    def finish(self) -> Loop | None:
        """The stream ended: check its last word and segment too."""
        if self.loop is None:
            self.loop = self._scan(final=True)
        return self.loop

    def answer(self) -> str:
        """The text fed so far, cut before the loop's second copy when there is one."""
        return self.text if self.loop is None else self.text[: self.loop.cut].rstrip()

    # --- rules ----------------------------------------------------------------------------------
    def _scan(self, *, final: bool) -> Loop | None:
        if not self.settings.enabled:
            return None
        for match in _WORD.finditer(self.text, self._word_pos):
            if match.end() == len(self.text) and not final:
                break  # the word may go on in the next piece
            self._word_pos = match.end()
            self._words.append(_word_key(match.group()))
            self._starts.append(match.start())
            self._ends.append(match.end())
            if (loop := self._run_ending_here()) is not None:
                return loop
        for match in _SEGMENT_END.finditer(self.text, self._segment_pos):
            if match.end() == len(self.text) and not final:
                break  # "3.5" or "e.g. x" may still be one segment
            if (loop := self._segment(self._segment_pos, match.start())) is not None:
                return loop
            self._segment_pos = match.end()
        if final and self._segment_pos < len(self.text):
            loop = self._segment(self._segment_pos, len(self.text))
            self._segment_pos = len(self.text)
            return loop
        return None

    def _run_ending_here(self) -> Loop | None:
        words, s = self._words, self.settings
        n = len(words)
        for period in range(1, min(s.max_period_words, n // 2) + 1):
            needed = s.min_word_repeats if period == 1 else max(s.min_run_repeats, -(-s.min_run_words // period))
            if period * needed > n:
                break
            unit = words[n - period :]
            copies = 1
            while copies < needed and words[n - period * (copies + 1) : n - period * copies] == unit:
                copies += 1
            if copies >= needed:
                second = n - period * (copies - 1)
                return Loop(cut=self._cut_in_copy(second, period), kind="ngram", unit=" ".join(unit))
        return None

    def _cut_in_copy(self, second: int, period: int) -> int:
        """Where to cut a run whose second copy starts at word ``second``: before that copy when it
        starts a sentence, else after the first sentence that ends inside it (a unit found mid-
        sentence keeps its sentence whole), else before the copy."""
        for j in range(second - 1, second + period - 1):
            if self._ends_sentence(j):
                return self._starts[second] if j == second - 1 else self._ends[j]
        return self._starts[second]

    def _ends_sentence(self, j: int) -> bool:
        end = self._ends[j]
        after = self.text[end : self._starts[j + 1]] if j + 1 < len(self._starts) else ""
        return self.text[end - 1] in ".!?" or "\n" in after

    def _segment(self, start: int, end: int) -> Loop | None:
        raw = self.text[start:end]
        offset = start + len(raw) - len(raw.lstrip())
        key = _segment_key(raw)
        if len(key) < self.settings.min_segment_chars or not _LETTER.search(key):
            return None
        seen = self._segments.setdefault(key, [])
        seen.append(offset)
        if len(seen) >= self.settings.min_segment_repeats:
            return Loop(cut=seen[1], kind="segment", unit=key)
        return None


def find_loop(text: str, settings: LoopSettings | None = None) -> Loop | None:
    """The first loop in a finished answer (None when it does not repeat itself)."""
    detector = LoopDetector(settings or LoopSettings())
    detector.feed(text)
    return detector.finish()


def cut_loop(text: str, settings: LoopSettings | None = None) -> tuple[str, Loop | None]:
    """A finished answer cut before its loop's second copy, and the loop (None: unchanged)."""
    detector = LoopDetector(settings or LoopSettings())
    detector.feed(text)
    detector.finish()
    return detector.answer(), detector.loop
