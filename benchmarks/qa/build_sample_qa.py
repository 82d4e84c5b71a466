"""Build benchmarks/qa/sample_qa.jsonl: the labelled QA set for the demo corpus.

The questions below are written by hand as paraphrases (not copies) of questions in the
``zaragoza-construction-faq`` corpus (CC BY 4.0, Zaragoza AB). For each one the script looks up
the FAQ entry it paraphrases and stores the gold document (the FAQ category: one document per
category in ``indexer.sample``), the gold section (the original question, the section heading)
and the supporting text (the original answer), so the JSONL file is self-contained.
The last items are unanswerable from the corpus (``"answerable": false``).

Run: ``.venv/bin/python benchmarks/qa/build_sample_qa.py`` (rewrites sample_qa.jsonl and
sample_questions.txt beside this script).
"""

from __future__ import annotations

import json
from pathlib import Path

import zaragoza_construction_faq as faq

HERE = Path(__file__).resolve().parent

# (FAQ id, paraphrased question, expected answer terms)
ANSWERABLE: list[tuple[str, str, list[str]]] = [
    (
        "bygglov-002",
        "How many weeks will the municipality take to decide on my building permit application?",
        ["10 weeks", "20 weeks"],
    ),
    (
        "attefall-002",
        "What is the largest floor area allowed for an attefall house, and how far from the plot boundary must it stand?",
        ["30 m2", "4.5 m"],
    ),
    ("tillbyggnad-002", "Roughly how much per square metre should I budget to extend my house?", ["18,000", "32,000"]),
    (
        "rot-001",
        "How big is the ROT tax reduction and what is the yearly ceiling per person?",
        ["30%", "50,000", "labour"],
    ),
    (
        "rot-002",
        "With the invoice model, what share of the labour bill do I pay myself under ROT?",
        ["70%", "materials"],
    ),
    (
        "rut-002",
        "Do ROT and RUT share one ceiling, or are their limits counted separately?",
        ["75,000", "50,000", "125,000"],
    ),
    ("fskatt-002", "What happens if I claim ROT after hiring a firm that lacks F-skatt?", ["F-skatt", "tax fraud"]),
    (
        "omvand-002",
        "Under which conditions does the buyer, rather than the seller, account for VAT on building services?",
        ["construction company", "construction service", "private"],
    ),
    (
        "personal-001",
        "From what project size does a building site need a register of everyone working there?",
        ["2016", "price base amounts", "232,000"],
    ),
    ("tak-001", "What price per square metre should I expect for a new roof with clay tiles?", ["1,500", "2,500"]),
    ("tak-002", "For how many years will a sheet metal roof typically hold up?", ["40", "70", "warranty"]),
    (
        "fasad-001",
        "If I repaint the outside walls of my house in the colour they already have, do I need a permit?",
        ["same colour", "permit"],
    ),
    (
        "kok-001",
        "What does a complete kitchen makeover usually cost in Helsingborg?",
        ["150,000", "500,000", "250,000"],
    ),
    (
        "kok-002",
        "From signing the contract to moving back in, how long does a new kitchen take?",
        ["3-6 weeks", "2-3 months"],
    ),
    ("badrum-002", "How many weeks should I plan for a complete bathroom renovation?", ["3-6 weeks", "membrane"]),
    (
        "badrum-001",
        "What is the usual price range for redoing a small bathroom of a few square metres?",
        ["150,000", "400,000", "200,000"],
    ),
    (
        "isolering-001",
        "After how many years does extra insulation pay for itself through lower energy bills?",
        ["7-15 years", "ROT"],
    ),
    (
        "vvs-002",
        "Why do insurers care whether my plumber is certified under Säker Vatten?",
        ["Säker Vatten", "water damage", "insurance"],
    ),
    ("el-002", "Am I allowed to do fixed electrical work in my own house?", ["authorized electrician", "2016:732"]),
    (
        "vent-001",
        "How much of the warmth in the outgoing air does an FTX system win back?",
        ["70-90%", "heat recovery"],
    ),
    ("vent-002", "How often should I swap the filter in my ventilation unit?", ["3-6 months", "200-800 SEK"]),
    (
        "varme-001",
        "Which kind of heating has the lowest running cost per square metre each year?",
        ["ground-source heat pump", "COP"],
    ),
    ("varme-002", "What lifespan can I expect from an air heat pump?", ["12-18 years", "service"]),
    (
        "dolda-002",
        "For how many years after I take possession of a house is the seller liable for hidden defects?",
        ["10 years", "Jordabalken"],
    ),
    (
        "verifiera-002",
        "What warning signs in a contractor's offer should make me suspicious?",
        ["advance payment", "F-tax", "insurance"],
    ),
    (
        "kontrakt-001",
        "What is the ABS18 agreement used for, and how does it protect the customer?",
        ["consumer", "10-year", "hidden defects"],
    ),
    (
        "kontrakt-002",
        "What kind of building contract is AB04, and who is responsible for design under it?",
        ["companies", "design", "execution"],
    ),
    (
        "arbetsmiljo-001",
        "When must a building project have a work environment plan, and who answers for it?",
        ["500", "building owner"],
    ),
    (
        "arbetsmiljo-002",
        "What do the two work environment coordinator roles on a construction project do?",
        ["coordinators", "design", "execution"],
    ),
    (
        "kostnad-001",
        "Roughly what does it cost per square metre to build a new detached house in Skåne?",
        ["25,000", "40,000", "4-6 MSEK"],
    ),
    ("bbr-001", "What are Boverket's building rules and which areas do they cover?", ["BBR", "safety", "energy"]),
    (
        "bbr-002",
        "Which law is the basis for building permits and detailed development plans?",
        ["Planning and Building Act", "2010:900"],
    ),
    (
        "energi-001",
        "For how long does an energy performance certificate for a building stay valid?",
        ["10 years", "energy expert"],
    ),
    (
        "dispute-002",
        "What does it cost to take a complaint to the national consumer disputes board, and how long does it take?",
        ["free", "6 months", "advisory"],
    ),
    (
        "strandskydd-001",
        "How far from a lake or the sea does shoreline protection normally reach?",
        ["100 metres", "300 metres"],
    ),
    ("radon-fuktskador-001", "What radon level should indoor air in a home stay under?", ["200 Bq/m3", "annual mean"]),
    (
        "radon-fuktskador-002",
        "How long do radon detectors have to stay in place, and during which part of the year?",
        ["60 days", "heating season"],
    ),
    (
        "garantier-001",
        "Under AB 04, how long does the contractor guarantee the workmanship and the materials?",
        ["five years", "two years"],
    ),
    ("garantier-002", "How long does the contractor's liability period run under AB 04?", ["ten years", "negligence"]),
    (
        "solceller-varmpump-002",
        "How large is the green technology tax deduction for installing solar panels?",
        ["20%", "50,000"],
    ),
    (
        "bergvarme-jordvarme-002",
        "How deep are the boreholes for ground-source heating usually drilled?",
        ["150-250 metres", "kWh"],
    ),
    (
        "buller-granne-002",
        "What daytime noise level from building work is acceptable at the facade of a home?",
        ["60 dBA", "45 dBA"],
    ),
    ("buller-granne-001", "At what times of day is noisy construction work normally tolerated?", ["07-19", "08-17"]),
    (
        "altan-staket-plank-001",
        "Can I build a deck without a permit, and how high above the ground may it be?",
        ["1.8 metres", "3.6 metres"],
    ),
    (
        "reklamation-process-001",
        "How quickly must I complain, and in what form, after discovering a fault in building work?",
        ["in writing", "two months", "ten years"],
    ),
    (
        "yrkesbevis-certifikat-001",
        "What is the ID06 card used for on building sites?",
        ["identification", "attendance"],
    ),
    (
        "besiktning-001",
        "What happens once the final inspection of the contract works is approved?",
        ["guarantee period", "final payment"],
    ),
    ("tomtgrans-servitut-002", "Who decides where the boundary of my plot runs?", ["Lantmäteriet", "property map"]),
]

# Not answerable from the corpus: four off-topic, four close to the domain.
UNANSWERABLE: list[str] = [
    "What is the best fertiliser for tomato plants in a greenhouse?",
    "How do I reset the password on my home Wi-Fi router?",
    "Who painted the Mona Lisa?",
    "What are the visa requirements for travelling to Japan?",
    "How much does it cost to install a passenger elevator in a two-storey villa?",
    "What are the opening hours of your Helsingborg office?",
    "Which wallpaper brand do you recommend for a child's bedroom?",
    "What interest rate will my bank charge on a renovation loan?",
]


def build() -> list[dict]:
    """The QA items, gold labels looked up in the FAQ corpus."""
    by_id = {entry["id"]: entry for entry in faq.load(lang="en")}
    items: list[dict] = []
    for number, (faq_id, question, terms) in enumerate(ANSWERABLE, start=1):
        entry = by_id[faq_id]
        if question.strip().lower() == entry["q"].strip().lower():
            raise ValueError(f"{faq_id}: the question must be a paraphrase, not a copy")
        items.append(
            {
                "id": f"qa-{number:03d}",
                "question": question,
                "answerable": True,
                "gold_doc": entry["category"],
                "gold_section": entry["q"],
                "faq_id": faq_id,
                "expected_terms": terms,
                "support": entry["a"],
            }
        )
    for number, question in enumerate(UNANSWERABLE, start=len(items) + 1):
        items.append({"id": f"qa-{number:03d}", "question": question, "answerable": False})
    return items


def main() -> None:
    items = build()
    with (HERE / "sample_qa.jsonl").open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    (HERE / "sample_questions.txt").write_text(
        "\n".join(item["question"] for item in items if item["answerable"]) + "\n", encoding="utf-8"
    )
    print(f"{len(items)} items ({sum(not i['answerable'] for i in items)} unanswerable)")


if __name__ == "__main__":
    main()
