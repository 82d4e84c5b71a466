"""The brand voice for evaluation: the training style guide as a score and as a prompt instruction.

``rag+style`` (RAG imitating the voice through an instruction instead of an adapter) is what the
break-even compares the fine-tuned adapter with, so the instruction is derived from the same guide
the style score checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.modes import Mode
from training.sample import sample_style_guide
from training.style import StyleGuide, style_breakdown

STYLED_RAG = f"{Mode.RAG}+style"
"""The label of the variant that runs ``rag`` with the style instruction."""


def load_style_guide(path: Path | None) -> StyleGuide:
    """The guide in ``path``, or the bundled sample guide (the demo company's voice)."""
    if path is not None:
        return StyleGuide.from_file(path)
    return sample_style_guide()


def style_instruction(guide: StyleGuide) -> str:
    """The guide as one instruction for the model (what ``rag+style`` adds to every prompt)."""
    parts = [f"Write in the voice of {guide.name}."]
    if guide.greetings:
        parts.append(f'Start the answer with "{guide.greetings[0]}".')
    if guide.sign_offs:
        parts.append(f'End the answer with "{guide.sign_offs[0]}".')
    for preferred, synonyms in guide.prefer.items():
        if synonyms:
            parts.append(f'Say "{preferred}", not ' + " or ".join(f'"{s}"' for s in synonyms) + ".")
    if guide.avoid:
        parts.append("Never use the words " + ", ".join(f'"{a}"' for a in guide.avoid) + ".")
    if guide.target_sentence_words:
        parts.append(f"Keep sentences short, about {round(guide.target_sentence_words)} words.")
    return " ".join(parts)


def style_scorer(guide: StyleGuide) -> Callable[[list[str]], dict[str, float | None]]:
    """A function giving the guide's score and per-criterion breakdown for a list of answers."""
    return lambda texts: style_breakdown(texts, guide)
