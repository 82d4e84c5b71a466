"""One-off comparison behind the choice of PII engine (README, "Dependencies and why"): Presidio's
analyzer with its predefined pattern recognizers on the labelled set ``tests/data/pii/pii_set.jsonl``.

Presidio is not a ragtune dependency; to rerun, install it into a scratch venv
(``pip install presidio-analyzer``). Its NLP engine wants a spaCy model, which cannot be downloaded
offline, so a blank spaCy pipeline per language stands in (context words then have no lemmas).
Result on the development machine: load 8.7 s, recall 0.442, precision 0.687; by kind
PERSON 0/98, ADDRESS 0/28, SE_PERSONNUMMER 0/7, SE_ORGNR 0/6, DE_TAX_ID 0/6, FR_NIR 0/6,
EU_VAT 0/7, SECRET 0/10, CARD 10/19, IT_FISCAL_CODE 7/9, PHONE 42/46, IBAN 28/28, EMAIL 30/30,
IP_ADDRESS 14/14, IT_VAT 8/8, ES_DNI 6/6.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

LANGUAGES = ["en", "it", "sv", "de", "fr", "es"]
SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "pii" / "pii_set.jsonl"
KINDS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CARD",
    "IT_FISCAL_CODE": "IT_FISCAL_CODE",
    "IT_VAT_CODE": "IT_VAT",
    "IP_ADDRESS": "IP_ADDRESS",
    "ES_NIF": "ES_DNI",
    "ES_NIE": "ES_DNI",
    "PERSON": "PERSON",
}


def main() -> None:
    logging.disable(logging.CRITICAL)
    started = time.perf_counter()
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankEngine(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {lang: spacy.blank(lang) for lang in LANGUAGES}

    nlp = BlankEngine(models=[{"lang_code": lang, "model_name": "blank"} for lang in LANGUAGES])
    nlp.load()
    registry = RecognizerRegistry(supported_languages=LANGUAGES)
    registry.load_predefined_recognizers(languages=LANGUAGES, nlp_engine=nlp)
    analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=LANGUAGES)
    analyzer.analyze(text="warm up a@b.com", language="en")
    load_s = time.perf_counter() - started
    found: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    tp = fp = 0
    lines = [json.loads(x) for x in SET.read_text(encoding="utf-8").splitlines() if x.strip()]
    started = time.perf_counter()
    for line in lines:
        spans = [
            (KINDS.get(r.entity_type, r.entity_type), r.start, r.end)
            for r in analyzer.analyze(text=line["text"], language=line["lang"])
            if r.score >= 0.3
        ]
        for e in line["entities"]:
            labelled[e["kind"]] += 1
            found[e["kind"]] += any(k == e["kind"] and s <= e["start"] and end >= e["end"] for k, s, end in spans)
        for kind, start, end in spans:
            if any(e["kind"] == kind and start < e["end"] and e["start"] < end for e in line["entities"]):
                tp += 1
            else:
                fp += 1
    seconds = time.perf_counter() - started
    print(
        f"load {load_s:.1f} s, {seconds * 1000 / len(lines):.2f} ms/line, recall "
        f"{sum(found.values()) / sum(labelled.values()):.3f}, precision {tp / (tp + fp):.3f}"
    )
    print({kind: f"{found[kind]}/{labelled[kind]}" for kind in labelled})


if __name__ == "__main__":
    main()
