"""Build the labelled PII test set ``pii_set.jsonl`` (deterministic; run from the repository root).

    python tests/data/pii/build_set.py

Every line: ``{"id", "lang", "text", "entities": [{"kind", "start", "end", "text"}], "note"}``. The IDs
are synthetic but valid: check digits are computed with python-stdnum, phone numbers are checked
with libphonenumber. Lines with no entities are hard negatives (product codes, dates, prices,
regulation articles, postcodes that look like IDs…). The file is committed; the benchmark
``benchmarks/bench_pii.py`` and the unit tests read it.
"""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata
from pathlib import Path

import phonenumbers
from stdnum import iban, luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.iso7064 import mod_11_10
from stdnum.it import codicefiscale, iva
from stdnum.se import orgnr, personnummer

OUT = Path(__file__).with_name("pii_set.jsonl")
rng = random.Random(17)

FIRST = {
    "en": ["James", "Olivia", "Siobhan", "Chloë", "Liam", "Grace", "Seán", "Amelia"],
    "it": ["Niccolò", "Lucia", "Giuseppe", "Chiara", "Mattia", "Zoë", "Andrea", "Federica", "Nicolò", "Ilaria"],
    "sv": ["Åsa", "Björn", "Märta", "Örjan", "Karin", "Erik", "Linnéa", "Sören"],
    "de": ["Jürgen", "Anneliese", "Sören", "Käthe", "Lukas", "Hannah", "Jörg", "Mia"],
    "fr": ["François", "Élodie", "Hélène", "Jérôme", "Amélie", "Noël", "Gaëlle", "Thibault"],
    "es": ["José", "María", "Íñigo", "Begoña", "Álvaro", "Lucía", "Raúl", "Sofía"],
}
LAST = {
    "en": ["Smith", "O'Brien", "McDonald", "Clarke", "Hughes", "Patel", "Walsh", "Fletcher"],
    "it": ["Rossi", "Bianchi", "Esposito", "De Luca", "Fabbri", "Mazzà", "Caruso", "D'Angelo", "Galli", "Ricci"],
    "sv": ["Lindström", "Åkesson", "Öberg", "Svensson", "Nyström", "Bergqvist", "Håkansson", "Ek"],
    "de": ["Müller", "Schäfer", "Groß", "Köhler", "Weiß", "Becker", "Hoffmann", "Bäcker"],
    "fr": ["Dupont", "Lefèvre", "Moreau", "Girard", "Bézier", "Rousseau", "Fournier", "Mercier"],
    "es": ["García", "Pérez", "Martínez", "Núñez", "López", "Fernández", "Gómez", "Ibáñez"],
}
REGION = {"en": "GB", "it": "IT", "sv": "SE", "de": "DE", "fr": "FR", "es": "ES"}


def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def name(lang: str, full: bool = True) -> str:
    first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
    return f"{first} {last}" if full else last


def email(lang: str) -> str:
    first, last = ascii_fold(rng.choice(FIRST[lang])), ascii_fold(rng.choice(LAST[lang]))
    domain = rng.choice(
        [
            "example.com",
            "azienda.it",
            "firma.se",
            "beispiel.de",
            "exemple.fr",
            "empresa.es",
            "mail.example.org",
            "studio-legale.it",
        ]
    )
    local = rng.choice(
        [f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}", f"{last}+fatture"]
    )
    return f"{local}@{domain}"


def digits(n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


PHONE_SHAPES = {
    "IT": [
        lambda: f"3{rng.choice('2345789')}{digits(1)} {digits(3)} {digits(4)}",
        lambda: f"06 {digits(4)} {digits(4)}",
        lambda: f"02 {digits(8)}",
    ],
    "SE": [
        lambda: f"07{rng.choice('0236')}-{digits(3)} {digits(2)} {digits(2)}",
        lambda: f"08-{digits(3)} {digits(3)} {digits(2)}",
    ],
    "DE": [lambda: f"030 {digits(8)}", lambda: f"0151 {digits(8)}", lambda: f"089 {digits(7)}"],
    "FR": [
        lambda: f"06 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        lambda: f"01 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
    ],
    "ES": [lambda: f"6{digits(2)} {digits(3)} {digits(3)}", lambda: f"91 {digits(3)} {digits(2)} {digits(2)}"],
    "GB": [lambda: f"020 {digits(4)} {digits(4)}", lambda: f"07{rng.choice('4579')}{digits(2)} {digits(6)}"],
}


def phone(lang: str, international: bool) -> str:
    region = REGION[lang]
    while True:
        national = rng.choice(PHONE_SHAPES[region])()
        number = phonenumbers.parse(national, region)
        if phonenumbers.is_valid_number(number):
            break
    if not international:
        return national
    code = number.country_code
    rest = national[1:] if national.startswith("0") and region != "IT" else national
    return f"{rng.choice(['+', '00'])}{code} {rest}"


BBAN = {
    "IT": lambda: rng.choice(string.ascii_uppercase) + digits(10) + digits(12),
    "SE": lambda: digits(20),
    "DE": lambda: digits(18),
    "FR": lambda: digits(10) + digits(11) + digits(2),
    "ES": lambda: digits(20),
    "GB": lambda: "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + digits(14),
}


def make_iban(lang: str) -> str:
    country = REGION[lang] if rng.random() < 0.7 else rng.choice(list(BBAN))
    for _ in range(20000):
        bban = BBAN[country]()
        number = country + iban.calc_check_digits(country + "00" + bban) + bban
        if iban.is_valid(number):
            break
    else:
        raise RuntimeError(country)
    style = rng.choice(["group", "compact", "group_lower", "compact_lower"])
    text = " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if "group" in style else number
    return text.lower() if "lower" in style else text


def card() -> str:
    kind = rng.choice(["visa", "mc", "amex"])
    body = {
        "visa": "4" + digits(14),
        "mc": f"5{rng.randint(1, 5)}" + digits(13),
        "amex": rng.choice(["34", "37"]) + digits(12),
    }[kind]
    number = body + luhn.calc_check_digit(body)
    if kind == "amex":
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    sep = rng.choice([" ", "-", ""])
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def fiscal_code() -> str:
    letters = "".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(3)) + "".join(
        rng.choice("BCDFGLMNPRSTVZAEIOU") for _ in range(3)
    )
    day = rng.randint(1, 28) + rng.choice([0, 40])
    body = (
        f"{letters}{rng.randint(50, 99):02d}{rng.choice('ABCDEHLMPRST')}{day:02d}{rng.choice('ABCDEFGHL')}{digits(3)}"
    )
    number = body + codicefiscale.calc_check_digit(body)
    assert codicefiscale.is_valid(number)
    return number if rng.random() < 0.75 else number.lower()


def partita_iva() -> str:
    while True:
        body = digits(7) + f"{rng.randint(1, 100):03d}"
        number = body + luhn.calc_check_digit(body)
        if iva.is_valid(number):
            return number


def personnr() -> str:
    yy, mm, dd = rng.randint(40, 99), rng.randint(1, 12), rng.randint(1, 28)
    body = f"{yy:02d}{mm:02d}{dd:02d}{digits(3)}"
    number = body + luhn.calc_check_digit(body)
    style = rng.choice(["dash", "long", "plain"])
    text = {"dash": f"{number[:6]}-{number[6:]}", "long": f"19{number[:6]}-{number[6:]}", "plain": number}[style]
    assert personnummer.is_valid(text)
    return text


def org_nr() -> str:
    body = f"5{rng.randint(5, 9)}{rng.randint(2, 9)}" + digits(6)
    number = body + luhn.calc_check_digit(body)
    assert orgnr.is_valid(number)
    return f"{number[:6]}-{number[6:]}"


def steuer_id() -> str:
    while True:
        pool = rng.sample(string.digits, 9)
        pool.append(rng.choice(pool))
        rng.shuffle(pool)
        body = "".join(pool)
        number = body + mod_11_10.calc_check_digit(body)
        if idnr.is_valid(number):
            return number if rng.random() < 0.6 else f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"


def french_nir() -> str:
    body = f"{rng.randint(1, 2)}{rng.randint(50, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 95):02d}{digits(3)}{digits(3)}"
    number = body + nir.calc_check_digits(body)
    assert nir.is_valid(number)
    if rng.random() < 0.6:
        return f"{number[0]} {number[1:3]} {number[3:5]} {number[5:7]} {number[7:10]} {number[10:13]} {number[13:]}"
    return number


def spanish_id() -> str:
    if rng.random() < 0.7:
        body = digits(8)
        return body + ("-" if rng.random() < 0.3 else "") + dni.calc_check_digit(body)
    body = rng.choice("XYZ") + digits(7)
    return body + nie.calc_check_digit(body)


def eu_vat() -> str:
    choice = rng.choice(["IT", "SE"])
    return f"IT{partita_iva()}" if choice == "IT" else f"SE{org_nr().replace('-', '')}01"


def ip() -> str:
    if rng.random() < 0.75:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return "2001:db8:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(3)) + "::" + f"{rng.randint(1, 4095):x}"


def secret() -> str:
    return rng.choice(
        [
            "sk-" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32)),
            "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36)),
        ]
    )


def password() -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "!#%&") for _ in range(rng.randint(8, 14)))


STREETS = {
    "it": lambda: (
        f"{rng.choice(['Via', 'Viale', 'Piazza', 'Corso'])} {rng.choice(['Giuseppe Garibaldi', 'Roma', 'dei Mille', 'XX Settembre', 'della Repubblica', 'Dante Alighieri'])}"
        f"{rng.choice([' ', ', '])}{rng.randint(1, 220)}{rng.choice(['', ', 00184 Roma', ', 20121 Milano (MI)', ', 40126 Bologna'])}"
    ),
    "sv": lambda: (
        f"{rng.choice(['Storgatan', 'Drottninggatan', 'Kungsvägen', 'Hamngatan', 'Sveavägen'])} {rng.randint(1, 120)}"
        f"{rng.choice(['', ', 114 55 Stockholm', ', 411 06 Göteborg'])}"
    ),
    "de": lambda: (
        f"{rng.choice(['Hauptstraße', 'Berliner Straße', 'Goethestr.', 'Lindenallee', 'Am Markt', 'Schillerweg'])} {rng.randint(1, 150)}{rng.choice(['', 'a'])}"
        f"{rng.choice(['', ', 10115 Berlin', ', 80331 München'])}"
    ),
    "fr": lambda: (
        f"{rng.randint(1, 150)} {rng.choice(['rue de la Paix', 'avenue Victor Hugo', 'boulevard Saint-Michel', 'place Bellecour', 'rue des Lilas'])}"
        f"{rng.choice(['', ', 75002 Paris', ', 69002 Lyon'])}"
    ),
    "es": lambda: (
        f"{rng.choice(['Calle Mayor', 'Avenida de la Constitución', 'Paseo del Prado', 'Calle de Alcalá', 'Plaza Mayor'])}"
        f"{rng.choice([' ', ', '])}{rng.randint(1, 200)}{rng.choice(['', ', 28013 Madrid', ', 41001 Sevilla'])}"
    ),
    "en": lambda: (
        f"{rng.randint(1, 300)}{rng.choice(['', 'B'])} {rng.choice(['Baker Street', 'High Street', 'Station Road', 'Church Lane', 'Victoria Avenue'])}"
    ),
}

# {KIND} slots; {PERSON_LAST} is a surname alone (after a title). Each template is used several times.
T = {
    "it": [
        ("Buongiorno, mi chiamo {PERSON} e vorrei un preventivo.", {}),
        ("Il mio nome è {PERSON}, abito a Torino.", {}),
        ("Gentile Sig. {PERSON_LAST}, la sua pratica è pronta.", {}),
        ("Ho parlato con la Dott.ssa {PERSON} ieri.", {}),
        ("Referente: {PERSON}", {}),
        ("Scrivetemi a {EMAIL} per i dettagli.", {}),
        ("Potete chiamarmi al {PHONE_NAT} dopo le 18.", {}),
        ("Il mio cellulare è {PHONE_INT}.", {}),
        ("Il mio codice fiscale è {IT_FISCAL_CODE}.", {}),
        ("CF: {IT_FISCAL_CODE} — intestatario del contratto.", {}),
        ("Fattura a nome della ditta, P.IVA {IT_VAT}.", {}),
        ("Partita IVA: {IT_VAT}", {}),
        ("Bonifico sull'IBAN {IBAN} entro venerdì.", {}),
        ("Ecco il mio iban: {IBAN}", {}),
        ("Pago con la carta {CARD}.", {}),
        ("Abito in {ADDRESS}.", {}),
        ("Consegna in {ADDRESS}, citofono secondo piano.", {}),
        ("L'accesso è avvenuto dall'indirizzo IP {IP_ADDRESS}.", {}),
        ("La password del portale è {PASSWORD}", {}),
        ("Mi chiamo {PERSON}, email {EMAIL}, tel. {PHONE_NAT}.", {}),
        ("Partita IVA comunitaria {EU_VAT}.", {}),
        ("Sono {PERSON} dell'ufficio acquisti.", {}),
        ("Contatti: {EMAIL}, {PHONE_INT}, IBAN {IBAN}.", {}),
        ("All'attenzione di {PERSON}, {ADDRESS}", {}),
    ],
    "en": [
        ("My name is {PERSON} and I need a permit.", {}),
        ("Please ask Mr {PERSON_LAST} to call back.", {}),
        ("Contact person: {PERSON}", {}),
        ("Dear {PERSON}, your order has shipped.", {}),
        ("You can reach me at {EMAIL}.", {}),
        ("Call me on {PHONE_INT} any time.", {}),
        ("My phone number is {PHONE_NAT}.", {}),
        ("Please pay to IBAN {IBAN}.", {}),
        ("The card ending in the number {CARD} was charged.", {}),
        ("I live at {ADDRESS}.", {}),
        ("The login came from {IP_ADDRESS}.", {}),
        ("Our API key is {SECRET}, keep it safe.", {}),
        ("password: {PASSWORD}", {}),
        ("Hi, this is {PERSON} from accounts, mail {EMAIL}.", {}),
    ],
    "sv": [
        ("Hej, jag heter {PERSON} och vill boka ett möte.", {}),
        ("Mitt namn är {PERSON}.", {}),
        ("Kontaktperson: {PERSON}", {}),
        ("Prata med Fru {PERSON_LAST} på kontoret.", {}),
        ("Mejla mig på {EMAIL}.", {}),
        ("Ring mig på {PHONE_NAT}.", {}),
        ("Mitt mobilnummer är {PHONE_INT}.", {}),
        ("Mitt personnummer är {SE_PERSONNUMMER}.", {}),
        ("Personnummer {SE_PERSONNUMMER} finns i ansökan.", {}),
        ("Bolagets organisationsnummer är {SE_ORGNR}.", {}),
        ("Fakturera {SE_ORGNR} enligt avtal.", {}),
        ("Betala till IBAN {IBAN}.", {}),
        ("Jag bor på {ADDRESS}.", {}),
        ("Kortnummer {CARD}.", {}),
        ("Momsregistreringsnummer {EU_VAT}.", {}),
        ("Inloggningen kom från {IP_ADDRESS}.", {}),
    ],
    "de": [
        ("Ich heiße {PERSON} und brauche eine Genehmigung.", {}),
        ("Mein Name ist {PERSON}.", {}),
        ("Sehr geehrter Herr {PERSON_LAST}, vielen Dank.", {}),
        ("Ansprechpartnerin: {PERSON}", {}),
        ("Schreiben Sie an {EMAIL}.", {}),
        ("Rufen Sie mich unter {PHONE_NAT} an.", {}),
        ("Meine Handynummer: {PHONE_INT}", {}),
        ("Meine Steuer-ID lautet {DE_TAX_ID}.", {}),
        ("Steueridentifikationsnummer: {DE_TAX_ID}", {}),
        ("Bitte überweisen Sie auf IBAN {IBAN}.", {}),
        ("Ich wohne in der {ADDRESS}.", {}),
        ("Kreditkarte {CARD}", {}),
        ("Zugriff von IP {IP_ADDRESS} blockiert.", {}),
    ],
    "fr": [
        ("Bonjour, je m'appelle {PERSON}.", {}),
        ("Mon nom est {PERSON}.", {}),
        ("Veuillez contacter M. {PERSON_LAST} demain.", {}),
        ("Madame {PERSON}, votre dossier est complet.", {}),
        ("Écrivez-moi à {EMAIL}.", {}),
        ("Mon téléphone : {PHONE_NAT}", {}),
        ("Appelez le {PHONE_INT}.", {}),
        ("Numéro de sécurité sociale : {FR_NIR}", {}),
        ("Mon NIR est {FR_NIR}.", {}),
        ("Virement sur l'IBAN {IBAN}.", {}),
        ("J'habite au {ADDRESS}.", {}),
        ("Carte bancaire {CARD}", {}),
    ],
    "es": [
        ("Hola, me llamo {PERSON}.", {}),
        ("Mi nombre es {PERSON}.", {}),
        ("Hable con la Sra. {PERSON_LAST}, por favor.", {}),
        ("Estimado {PERSON}: gracias por su pedido.", {}),
        ("Escríbame a {EMAIL}.", {}),
        ("Mi teléfono es {PHONE_NAT}.", {}),
        ("Llame al {PHONE_INT}.", {}),
        ("Mi DNI es {ES_DNI}.", {}),
        ("NIF/NIE: {ES_DNI}", {}),
        ("Transferencia al IBAN {IBAN}.", {}),
        ("Vivo en {ADDRESS}.", {}),
        ("Tarjeta {CARD}", {}),
    ],
}

NEGATIVES = {
    "it": [
        "Il prezzo è di € 1.234,56 IVA inclusa.",
        "Ai sensi dell'art. 13 del Regolamento (UE) 2016/679.",
        "Consegna prevista il 15/03/2024 alle 10:30.",
        "Codice articolo 80012345678, confezione da 12.",
        "Spedire a 00184 Roma entro il 2024-03-15.",
        "Il D.Lgs. 196/2003 è stato aggiornato nel 2018.",
        "Fattura n. 2024/000123 del 12.01.2024.",
        "Ordine numero 4006381333931 in lavorazione.",
        "Via email o via telefono, come preferisce.",
        "Sono disponibile lunedì.",
        "Il modello X200-4400-1234 costa 1.299,00 euro.",
        "Norma UNI EN ISO 9001:2015, certificato 12345/A.",
        "Versione 10.0.19041.1 installata.",
        "Gentile Cliente, la ringraziamo.",
        "Sono Contenta del servizio.",
    ],
    "en": [
        "The price is $1,299.00 plus VAT.",
        "Under Article 6(1)(f) GDPR we may process the data.",
        "Delivery on 2024-03-15 at 10:30.",
        "Product code PRD-912-345-678 is out of stock.",
        "EAN 4006381333931 matches the box.",
        "Dear Customer, thank you for your order.",
        "This is Important: read the manual.",
        "Order 12345678901 shipped in 3 boxes.",
        "Postcode SW1A 1AA is in London.",
        "Version 1.2.3 fixes the bug.",
        "ISBN 978-88-04-66785-4.",
    ],
    "sv": [
        "Priset är 12 500 kr inklusive moms.",
        "Enligt artikel 17 i dataskyddsförordningen.",
        "Leverans 2024-03-15 kl. 10.30.",
        "Postnummer 114 55 Stockholm.",
        "Artikelnummer 4006381333931.",
        "Ordernummer 20240315-0042 är skickat.",
        "Kostnaden blir 25 000-50 000 SEK per år.",
        "Hej! Varma hälsningar, Team Zaragoza",
        "Beställning 556677 levererad.",
        "Bygglov nr 2024-000123.",
    ],
    "de": [
        "Der Preis beträgt 1.234,56 € inkl. MwSt.",
        "Gemäß § 26 BDSG und Art. 88 DSGVO.",
        "Lieferung am 15.03.2024 um 10:30 Uhr.",
        "Art.-Nr. 4006381333931, Menge 12.",
        "PLZ 10115 Berlin.",
        "Rechnungsnummer 2024-0001234.",
        "Bestellung 12345678901 ist unterwegs.",
        "Liebe Kunden, willkommen!",
        "Norm DIN EN 1090-2:2018.",
    ],
    "fr": [
        "Le prix est de 1 299,00 € TTC.",
        "Conformément à l'article 15 du RGPD.",
        "Livraison le 15/03/2024 à 10h30.",
        "Code postal 75008 Paris.",
        "Référence produit 3017620422003.",
        "Commande n° 2024-03-15-0042.",
        "Cher client, merci pour votre achat.",
        "Décret n° 2018-687 du 1er août 2018.",
    ],
    "es": [
        "El precio es de 1.299,00 € IVA incluido.",
        "Según el artículo 5 de la Ley Orgánica 3/2018.",
        "Entrega el 15/03/2024 a las 10:30.",
        "Código postal 28013 Madrid.",
        "Código de producto 8412345678905.",
        "Pedido número 2024/000123.",
        "Estimado cliente, gracias por su compra.",
        "Real Decreto 1720/2007.",
    ],
}

VALUE = {
    "EMAIL": email,
    "PHONE_NAT": lambda lang: phone(lang, False),
    "PHONE_INT": lambda lang: phone(lang, True),
    "IBAN": make_iban,
    "CARD": lambda lang: card(),
    "IT_FISCAL_CODE": lambda lang: fiscal_code(),
    "IT_VAT": lambda lang: partita_iva(),
    "SE_PERSONNUMMER": lambda lang: personnr(),
    "SE_ORGNR": lambda lang: org_nr(),
    "DE_TAX_ID": lambda lang: steuer_id(),
    "FR_NIR": lambda lang: french_nir(),
    "ES_DNI": lambda lang: spanish_id(),
    "EU_VAT": lambda lang: eu_vat(),
    "IP_ADDRESS": lambda lang: ip(),
    "SECRET": lambda lang: secret(),
    "PASSWORD": lambda lang: password(),
    "PERSON": lambda lang: name(lang),
    "PERSON_LAST": lambda lang: name(lang, False),
    "ADDRESS": lambda lang: STREETS[lang](),
}
KIND_OF = {"PHONE_NAT": "PHONE", "PHONE_INT": "PHONE", "PASSWORD": "SECRET", "PERSON_LAST": "PERSON"}
SLOT = re.compile(r"\{([A-Z_]+)\}")


def fill(template: str, lang: str) -> tuple[str, list[dict]]:
    text, entities, last = "", [], 0
    for m in SLOT.finditer(template):
        text += template[last : m.start()]
        value = VALUE[m.group(1)](lang)
        entities.append(
            {
                "kind": KIND_OF.get(m.group(1), m.group(1)),
                "start": len(text),
                "end": len(text) + len(value),
                "text": value,
            }
        )
        text += value
        last = m.end()
    return text + template[last:], entities


WHY = [  # the examples of issue 17's *Why*, verbatim where it gives them
    ("en", "My name is Niccolò Rossi", [("PERSON", "Niccolò Rossi")]),
    ("it", "Mi chiamo Niccolò Bianchi", [("PERSON", "Niccolò Bianchi")]),
    ("it", "Codice fiscale: RSSMRA85T10A562S", [("IT_FISCAL_CODE", "RSSMRA85T10A562S")]),
    ("it", "Buongiorno Sig. Rossi, la pratica è pronta.", [("PERSON", "Rossi")]),
    ("it", "IBAN it60 x054 2811 1010 0000 0123 456", [("IBAN", "it60 x054 2811 1010 0000 0123 456")]),
    ("sv", "Personnummer 811218-9876", [("SE_PERSONNUMMER", "811218-9876")]),
    ("it", "La sede è in Via Giuseppe Verdi 12, 20121 Milano.", [("ADDRESS", "Via Giuseppe Verdi 12, 20121 Milano")]),
    ("en", "Blocked the address 203.0.113.42 after five attempts.", [("IP_ADDRESS", "203.0.113.42")]),
]


def main() -> None:
    lines = []
    for number, (lang, text, wanted) in enumerate(WHY):
        entities = [
            {"kind": kind, "start": text.index(value), "end": text.index(value) + len(value), "text": value}
            for kind, value in wanted
        ]
        lines.append({"id": f"why-{number}", "lang": lang, "text": text, "entities": entities, "note": "issue 17"})
    repeats = {"it": 4, "en": 3, "sv": 3, "de": 3, "fr": 3, "es": 3}
    for lang, templates in T.items():
        for number, (template, _) in enumerate(templates):
            for r in range(repeats[lang]):
                text, entities = fill(template, lang)
                lines.append(
                    {"id": f"{lang}-{number:02d}-{r}", "lang": lang, "text": text, "entities": entities, "note": ""}
                )
        for number, text in enumerate(NEGATIVES[lang]):
            lines.append(
                {"id": f"{lang}-neg-{number:02d}", "lang": lang, "text": text, "entities": [], "note": "hard negative"}
            )
    with OUT.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(lines)} lines → {OUT}")


if __name__ == "__main__":
    main()
