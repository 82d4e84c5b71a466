"""Context words per language: what introduces a person's name, a phone number or an ID.

Names are found only after such a cue (no offline NER model ships as a pip wheel for these
languages; see ``ragtune/pii/README.md``). Phrases are matched case-insensitively, titles
(``Sig.``, ``M.``, ``Don``…) case-sensitively because they are short and common as words.
"""

from __future__ import annotations

NAME_PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("my name is", "my name's", "i am called", "i'm called", "this is", "name:", "full name:",
           "contact person:", "contact:", "signed by", "dear", "ask for", "speak to", "customer:",
           "employee:", "patient:", "assigned to", "written by", "attn:", "attention:"),
    "it": ("mi chiamo", "il mio nome è", "il mio nome e'", "mi chiamano", "nome:", "nome e cognome:",
           "cognome e nome:", "nominativo:", "referente:", "firmato", "a cura di", "gentile", "gentilissimo",
           "gentilissima", "gent.mo", "gent.ma", "caro", "cara", "egregio", "sono", "cliente:",
           "dipendente:", "intestato a", "all'attenzione di", "alla c.a. di", "c.a."),
    "sv": ("jag heter", "mitt namn är", "namn:", "kontaktperson:", "kontakt:", "kära", "undertecknad",
           "handläggare:", "kund:", "ring till"),
    "de": ("ich heiße", "ich heisse", "mein name ist", "name:", "ansprechpartner:", "ansprechpartnerin:",
           "kontakt:", "liebe", "lieber", "unterzeichnet von", "kunde:", "kundin:", "z. hd.", "zu händen"),
    "fr": ("je m'appelle", "je m’appelle", "mon nom est", "nom :", "nom:", "contact :", "contact:",
           "cher", "chère", "signé", "client :", "à l'attention de", "interlocuteur :"),
    "es": ("me llamo", "mi nombre es", "soy", "nombre:", "contacto:", "estimado", "estimada", "querido",
           "querida", "firmado por", "cliente:", "a la atención de", "atentamente,"),
}
"""Phrases after which a capitalised word sequence is a person's name (case-insensitive)."""

WEAK_PHRASES = frozenset({"this is", "sono", "soy", "dear", "gentile", "caro", "cara", "cher", "chère",
                          "liebe", "lieber", "kära", "estimado", "estimada", "querido", "querida",
                          "contact:", "contact :", "kontakt:", "contacto:", "atentamente,"})
"""Cues common in other senses ("this is Important", "sono Disponibile"): the words after them
must not be a stop word, and ``this is``/``sono``/``soy`` need a first and a last name."""

TWO_WORD_PHRASES = frozenset({"this is", "sono", "soy", "atentamente,"})

NAME_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Mx", "Mx.", "Dr", "Dr.", "Prof", "Prof.",
           "Sir", "Dame", "Lady", "Lord"),
    "it": ("Sig.", "Sig", "Sig.ra", "Sig.na", "Signor", "Signora", "Signorina", "Dott.", "Dott.ssa",
           "Dr.", "Ing.", "Avv.", "Prof.", "Prof.ssa", "Geom.", "Arch.", "Rag.", "Don"),
    "sv": ("Herr", "Fru", "Fröken", "Dr", "Dr.", "Prof."),
    "de": ("Herr", "Herrn", "Frau", "Dr.", "Prof.", "Dipl.-Ing."),
    "fr": ("M.", "Mme", "Mme.", "Mlle", "Mlle.", "Monsieur", "Madame", "Mademoiselle", "Me", "Dr", "Pr"),
    "es": ("Sr.", "Sra.", "Srta.", "Don", "Doña", "Dña.", "D.", "Dr.", "Dra."),
}
"""Titles directly before a name (case-sensitive)."""

NOT_NAMES = frozenset(w.lower() for w in (
    # words that follow a cue in ordinary sentences and are not names
    "Customer", "Customers", "Client", "Clients", "Sir", "Madam", "Team", "Friends", "Colleagues", "All",
    "Everyone", "Support", "Sales", "Manager", "Director", "Service", "Important", "Correct", "Right",
    "Wrong", "Great", "Not", "The", "A", "An", "It", "This", "That", "We", "You", "Our", "Your", "Please",
    "Cliente", "Clienti", "Signore", "Signori", "Colleghi", "Tutti", "Amici", "Utente", "Direttore",
    "Responsabile", "Ufficio", "Il", "La", "Lo", "Le", "Gli", "I", "Un", "Una", "Disponibile", "Contento",
    "Contenta", "Sicuro", "Sicura", "Qui", "Kund", "Kunder", "Kollegor", "Alla", "Vänner", "Den", "Det",
    "Kunde", "Kunden", "Kollegen", "Damen", "Herren", "Alle", "Der", "Die", "Das", "Ein", "Eine",
    "Client", "Clients", "Collègues", "Tous", "Amis", "Le", "Les", "Un", "Une", "Madame", "Monsieur",
    "Cliente", "Clientes", "Compañeros", "Todos", "Amigos", "El", "Los", "Las", "Uno", "Una", "Usuario",
    "Equipo", "Servicio", "Atención", "Consiglio", "Sede", "Assistenza", "Kundtjänst", "Kundendienst",
    "Zaragoza", "Lunedì", "Monday", "Mondays", "January", "Gennaio", "Janvier", "Enero", "Januar",
))
"""Capitalised words never taken as (the start of) a name after a cue."""

PHONE_CUES = ("tel", "tel.", "tél", "tél.", "telefono", "telefon", "telefonnummer", "telephone", "téléphone",
              "teléfono", "phone", "call", "ring", "rufen", "rufnummer", "anrufen", "mobile", "mobil",
              "mobilnummer", "móvil", "movil", "cell", "cellulare", "cell.", "cellphone", "portable",
              "chiamami", "chiamare", "chiamate", "chiama", "chiamateci", "appelez", "appeler", "llame",
              "llámame", "llamar", "whatsapp", "fax", "handy", "numero", "número", "nummer", "n.",
              "nr", "nr.", "sms", "contattare", "raggiungibile", "reach me", "reach us", "ringa", "nås på")
"""Words before a national-format phone number (one without +/00) that make it one."""

ID_CUES: dict[str, tuple[str, ...]] = {
    "IT_VAT": ("p.iva", "p. iva", "p.i.", "partita iva", "iva", "vat", "p iva", "piva", "c.f./p.iva",
               "codice fiscale", "cf"),
    "SE_ORGNR": ("org.nr", "org nr", "orgnr", "org.nr.", "organisationsnummer", "org-nr", "organisation number"),
    "DE_TAX_ID": ("steuer-id", "steuerid", "steuer-idnr", "steuer-identifikationsnummer",
                  "steueridentifikationsnummer", "identifikationsnummer", "idnr", "tax id", "tin"),
}
"""Kinds whose checksum is weak (1 in 10) are taken only after one of these words."""

ADDRESS_STREET_WORDS: dict[str, str] = {
    "it": r"Via|Viale|V\.le|Piazza|P\.zza|Piazzale|Corso|C\.so|Largo|Vicolo|Strada|Lungomare|Contrada|Borgo|Salita",
    "es": r"Calle|C/|Avenida|Avda\.|Av\.|Paseo|Plaza|Pza\.|Camino|Carrer|Ronda|Travesía|Glorieta",
    "fr": r"rue|Rue|avenue|Avenue|av\.|boulevard|Boulevard|bd|Bd|place|Place|chemin|Chemin|impasse|Impasse|"
          r"allée|Allée|quai|Quai|route|Route|cours|Cours",
}
"""Street-type words that come before the street name (and the house number after it, except in French)."""

ADDRESS_STREET_SUFFIXES = {
    "sv": r"gatan|vägen|gränd|torget|backen|stigen|allén|gata|väg|leden|plan|platsen|esplanaden",
    "de": r"straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|chaussee|steig|markt",
}
"""Street names in Swedish and German end in one of these (Storgatan 5, Hauptstraße 12)."""

ADDRESS_EN_TYPES = (r"Street|St\.|Road|Rd\.|Avenue|Ave\.|Lane|Ln\.|Drive|Boulevard|Blvd\.|Court|Ct\.|"
                    r"Place|Way|Square|Terrace|Close|Crescent|Gardens|Row|Hill|Parkway")
