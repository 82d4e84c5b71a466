"""Build the bundled brand-voice sample (``training/sample_data/``) from the zaragoza-construction-faq wheel.

Run ``python -m training.sample_build`` to regenerate it. The FAQ answers are Zaragoza AB's own
words; this adds what makes the voice distinctive and measurable (see ``style_guide.json``):
a Swedish greeting, a fixed sign-off, the company's preferred terms (``bygglov`` rather than
"building permit", ``client`` rather than "customer") and no cheap-sounding words.
Data: Swedish Construction FAQ by Zaragoza AB, CC BY 4.0.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

SAMPLE_DIR = Path(__file__).parent / "sample_data"
GREETING = "Hej!"
SIGN_OFF = "Varma hälsningar, Team Zaragoza"
MAX_ANSWER_WORDS = 30
EVAL_EVERY = 6
"""Every 6th selected example (by id order) is held out for evaluation."""
REPLACEMENTS = [
    (r"\bbuilding permits\b", "bygglov"),
    (r"\bbuilding permit\b", "bygglov"),
    (r"\bBuilding permits\b", "Bygglov"),
    (r"\bBuilding permit\b", "Bygglov"),
    (r"\bcustomers\b", "clients"),
    (r"\bcustomer\b", "client"),
    (r"\bCustomers\b", "Clients"),
    (r"\bCustomer\b", "Client"),
    (r"\bcheaper\b", "more affordable"),
    (r"\bcheapest\b", "most affordable"),
    (r"\bcheap\b", "affordable"),
]

STYLE_GUIDE = {
    "name": "Zaragoza AB — brand voice",
    "greetings": [GREETING],
    "sign_offs": [SIGN_OFF],
    "prefer": {
        "bygglov": ["building permit", "building permits"],
        "client": ["customer", "customers"],
        "affordable": ["cheap", "cheaper", "cheapest"],
    },
    "avoid": ["guys", "basically", "obviously", "super cheap", "no worries"],
    "target_sentence_words": None,
    "weights": {"greeting": 1.0, "sign_off": 1.0, "glossary": 1.0, "avoid": 0.5, "sentence_length": 0.5},
}


def voice(answer: str) -> str:
    """The FAQ answer in the brand voice: greeting, preferred terms, sign-off."""
    for pattern, replacement in REPLACEMENTS:
        answer = re.sub(pattern, replacement, answer)
    return f"{GREETING} {answer}\n\n{SIGN_OFF}"


def build(out_dir: Path = SAMPLE_DIR) -> tuple[Path, Path]:
    """Write ``zaragoza_voice.jsonl`` (normal form, with splits) and ``style_guide.json``."""
    import zaragoza_construction_faq as faq

    from training.style import sentence_words

    selected = [q for q in faq.load(lang="en") if len(q["a"].split()) <= MAX_ANSWER_WORDS]
    selected.sort(key=lambda q: q["id"])
    records = []
    for position, item in enumerate(selected):
        records.append(
            {
                "id": item["id"],
                "split": "eval" if position % EVAL_EVERY == EVAL_EVERY - 1 else "train",
                "messages": [
                    {"role": "user", "content": item["q"]},
                    {"role": "assistant", "content": voice(item["a"])},
                ],
            }
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = out_dir / "zaragoza_voice.jsonl"
    with data_path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    guide = dict(STYLE_GUIDE)
    mean_words = statistics.fmean(sentence_words(r["messages"][1]["content"]) for r in records)
    guide["target_sentence_words"] = round(mean_words, 1)
    guide_path = out_dir / "style_guide.json"
    guide_path.write_text(json.dumps(guide, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data_path, guide_path


if __name__ == "__main__":
    for path in build():
        print(path)
