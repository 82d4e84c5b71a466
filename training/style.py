"""A measurable brand voice: a style guide and a score in [0, 1] for generated texts.

Criteria (each in [0, 1] per text; the score is their weighted mean over the criteria that apply):

* ``greeting`` — the text opens with one of the guide's greetings.
* ``sign_off`` — one of the guide's sign-offs appears at the end (within the last 160 characters).
* ``glossary`` — where a concept is mentioned, the preferred term is used rather than its
  discouraged synonyms (applies only to texts that mention one of them).
* ``avoid`` — none of the terms to avoid appears.
* ``sentence_length`` — mean words per sentence near the target: 1 - |mean - target| / target.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ragtune.errors import RagtuneError

CRITERIA = ("greeting", "sign_off", "glossary", "avoid", "sentence_length")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_SIGN_OFF_WINDOW = 160


class StyleGuide(BaseModel):
    """The brand voice, as rules a program can check."""

    name: str = "brand voice"
    greetings: list[str] = Field(default_factory=list)
    """Accepted openings (case-insensitive prefix match)."""
    sign_offs: list[str] = Field(default_factory=list)
    """Accepted closings (must appear at the end of the text)."""
    prefer: dict[str, list[str]] = Field(default_factory=dict)
    """Preferred term → discouraged synonyms."""
    avoid: list[str] = Field(default_factory=list)
    target_sentence_words: float | None = Field(None, gt=0)
    weights: dict[str, float] = Field(default_factory=lambda: {c: 1.0 for c in CRITERIA})

    @classmethod
    def from_file(cls, path: Path) -> StyleGuide:
        """Read a style guide from JSON (or TOML); RagtuneError with the reason if it is invalid."""
        path = Path(path)
        if not path.is_file():
            raise RagtuneError(f"style guide {path}: no such file")
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                data = tomllib.loads(path.read_text(encoding="utf-8"))
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
            return cls.model_validate(data)
        except (ValueError, ValidationError) as err:
            raise RagtuneError(f"style guide {path} is invalid: {str(err).splitlines()[0]}") from None


def _contains(text: str, term: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term.lower())}(?!\w)", text.lower()) is not None


def sentence_words(text: str) -> float:
    """Mean number of words per sentence (0 for an empty text)."""
    sentences = [s for s in (m.group(0).strip() for m in _SENTENCE.finditer(text)) if s]
    counts = [len(s.split()) for s in sentences if s.split()]
    return statistics.fmean(counts) if counts else 0.0


def criteria_scores(text: str, guide: StyleGuide) -> dict[str, float | None]:
    """Each criterion's score for one text (None where it does not apply)."""
    stripped = text.strip()
    scores: dict[str, float | None] = dict.fromkeys(CRITERIA)
    if guide.greetings:
        scores["greeting"] = float(any(stripped.lower().startswith(g.lower()) for g in guide.greetings))
    if guide.sign_offs:
        tail = stripped[-_SIGN_OFF_WINDOW:].lower()
        scores["sign_off"] = float(any(s.lower() in tail for s in guide.sign_offs))
    glossary = []
    for preferred, synonyms in guide.prefer.items():
        uses_bad = any(_contains(stripped, s) for s in synonyms)
        uses_good = _contains(stripped, preferred)
        if uses_bad or uses_good:
            glossary.append(0.0 if uses_bad else 1.0)
    if glossary:
        scores["glossary"] = statistics.fmean(glossary)
    if guide.avoid:
        scores["avoid"] = 0.0 if any(_contains(stripped, t) for t in guide.avoid) else 1.0
    if guide.target_sentence_words:
        mean = sentence_words(stripped)
        scores["sentence_length"] = max(
            0.0, 1.0 - abs(mean - guide.target_sentence_words) / guide.target_sentence_words
        )
    return scores


def text_score(text: str, guide: StyleGuide) -> float:
    """Weighted mean of the applicable criteria for one text, in [0, 1]."""
    scores = criteria_scores(text, guide)
    applicable = [(guide.weights.get(c, 1.0), s) for c, s in scores.items() if s is not None]
    total_weight = sum(w for w, _ in applicable)
    if not applicable or total_weight <= 0:
        return 0.0
    return sum(w * s for w, s in applicable) / total_weight


def style_score(texts: list[str], guide: StyleGuide) -> float:
    """The brand-voice score of ``texts``: the mean per-text score, in [0, 1] (0 for no texts)."""
    if not texts:
        return 0.0
    return statistics.fmean(text_score(t, guide) for t in texts)


def style_breakdown(texts: list[str], guide: StyleGuide) -> dict[str, float | None]:
    """Mean score of each criterion over ``texts`` (None where it applied to no text), plus ``score``."""
    result: dict[str, float | None] = {}
    per_text = [criteria_scores(t, guide) for t in texts]
    for criterion in CRITERIA:
        values = [s[criterion] for s in per_text if s[criterion] is not None]
        result[criterion] = round(statistics.fmean(values), 4) if values else None
    result["score"] = round(style_score(texts, guide), 4)
    return result
