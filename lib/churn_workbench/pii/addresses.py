"""Street addresses and postcodes (UK, US, Canada, France, Germany, Spain, Italy, Netherlands,
Belgium, Portugal and the like).

An address is a street name with a street-type word *and a house number*, in the word order of
its language ("12 Baker Street", "12 rue de la Paix", "Hauptstraße 5", "Calle Mayor 12",
"Via Roma 10", "Kerkstraat 12"), optionally with a flat ("Flat 3, ...", "Apt 4B") and a
following postcode and town. "The shop on Main Street" has no number and stays text. A flat
or apartment number is an address on its own too ("appartement 4B", "Wohnung 12", "piso 2º").
Postcodes on their own: the UK and Canadian formats, Dutch "1234 AB", and any code after a
postcode word ("PLZ", "code postal", "CAP", "zip"); 5-digit codes are masked anyway as long
digit groups (churn_workbench.pii.numbers).
"""

from __future__ import annotations

import re

from churn_workbench.pii.words import has_any

Hit = tuple[str, int, int, float]

_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’\-]*"  # a capitalised word ("Baker", "O'Connell", "Saint-Denis")
_NAME = rf"{_CAP}(?:\s+{_CAP}){{0,3}}"
_NUM = r"\d{1,5}(?:\s?[a-zA-Z](?![\w]))?(?:\s?(?:bis|ter))?"
_FLAT = r"(?:(?:flat|apt|apartment|unit|suite|ste|appartement|app|wohnung|whg|piso|apto|interno|int)\.?\s*#?\d{1,4}[a-zA-Z]?,?\s+)"
_EN_TYPES = (r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|crescent|cres|place|pl|"
             r"terrace|gardens|grove|square|sq|boulevard|blvd|hill|row|mews|parade|walk|park|circle|"
             r"highway|hwy|parkway|pkwy")
_PARTICLES = r"(?:(?:de|du|des|la|le|les|l'|d'|del|dei|degli|della|delle|di|da|do|dos|das|el|los|las|van|der)\s*)*"

_ADDRESS_RES = (
    # EN: 12 Baker Street, 350 Fifth Ave NW, Flat 3, 27 Orchard Close
    re.compile(rf"(?i:{_FLAT})?\b{_NUM},?\s+{_NAME}\s+(?i:{_EN_TYPES})\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"),
    # FR / ES / IT / PT with the type first: 12 rue de la Paix, Calle Mayor 12, Via Roma 10
    re.compile(
        rf"(?i:{_FLAT})?(?:\b{_NUM},?\s+)?\b(?i:rue|avenue|av|bd|boulevard|place|allée|allee|chemin|impasse|quai|"
        rf"route|cours|calle|c/|avda|avenida|plaza|pza|paseo|camino|carretera|ronda|travesía|travesia|via|viale|"
        rf"piazza|p\.zza|corso|largo|vicolo|rua|praça|praca|travessa|estrada)\.?\s+{_PARTICLES}{_NAME}"
        rf"(?:,?\s*(?i:n[º°o]?\.?\s*)?\d{{1,5}}[a-zA-Z]?(?:[,\s]+\d{{1,2}}\s?[º°ªoa]\s?\w*)?)?"
    ),
    # DE / NL / Nordic compounds: Hauptstraße 5, Goethestr. 12a, Kerkstraat 12, Berliner Straße 3
    re.compile(
        rf"\b(?:{_CAP}\s+)?[A-ZÀ-ÖØ-Þ][\w\-]*(?i:straße|strasse|str\.|weg|gasse|allee|platz|ring|damm|ufer|"
        rf"chaussee|straat|laan|plein|gracht|kade|singel|dijk|steeg|hof|gatan|vej|veien|gade)\s*\d{{1,5}}\s?[a-zA-Z]?\b"
    ),
    re.compile(rf"\b{_CAP}\s+(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Gasse|Ring)\s*\d{{1,5}}\s?[a-zA-Z]?\b"),
)
# A house number is what makes it an address; type-first patterns may lack one.
_HAS_NUMBER_RE = re.compile(r"\d")
# "..., 75001 Paris", "..., London SW1A 1AA", "..., 1010 Wien" right after an address.
_TRAILER_RE = re.compile(
    r"^,?\s*(?:\d{4,5}\s+[A-ZÀ-Þ][\w\-]+|[A-ZÀ-Þ][\w\-]+(?:\s+[A-Z]{2})?\s+\d{5}(?:-\d{4})?|"
    r"[A-ZÀ-Þ][\w\-]+,?\s+[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})"
)

_POSTCODE_SHAPES_RE = re.compile(
    r"\b(?:GIR\s?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}"  # UK
    r"|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d"  # Canada
    r"|[1-9]\d{3}\s?(?!SA|SD|SS)[A-Z]{2}(?=\s+[A-Z][a-z]))\b"  # NL, before a town
)
_POSTCODE_GATE_RE = re.compile(r"[A-Z]\d|\d ?[A-Z]")  # every shape above has a capital next to a digit
_ANNOUNCED_POSTCODE_RE = re.compile(
    r"(?i)\b(?:post\s?code|postal\s?code|zip(?:\s?code)?|plz|code\s?postal|cp|c\.p|cap|código\s?postal|"
    r"codice\s?postale)\b\.?\s*:?\s*([A-Z0-9]{2,5}(?:[\s\-][A-Z0-9]{2,4})?)\b"
)

# Cheap gates: a street-type word, or a word ending in one ("Goethestr", "Kerkstraat").
_TYPE_WORDS = frozenset(
    _EN_TYPES.split("|")
    + """rue av bd boulevard place allée allee chemin impasse quai route cours calle c avda avenida plaza
    pza paseo camino carretera ronda travesía travesia via viale piazza zza corso largo vicolo rua praça
    praca travessa estrada straße strasse str weg gasse allee platz ring straat laan plein""".split()
)
_COMPOUND_SUFFIXES = ("straße", "strasse", "str", "weg", "gasse", "allee", "platz", "ring", "damm", "ufer",
                      "chaussee", "straat", "laan", "plein", "gracht", "kade", "singel", "dijk", "steeg", "hof",
                      "gatan", "vej", "veien", "gade")
_WORD_BEFORE_NUMBER_RE = re.compile(r"([^\W\d_]{3,})\.?[ \t]*\d")
_POSTCODE_WORDS = frozenset("postcode post postal zip plz cp c cap código codice code".split())


def addresses(view: str) -> list[Hit]:
    """ADDRESS hits (street, number, flat, trailing postcode and town)."""
    out = []
    if not has_any(view, _TYPE_WORDS) and not any(
        w.lower().endswith(_COMPOUND_SUFFIXES) for w in _WORD_BEFORE_NUMBER_RE.findall(view)
    ):
        return out
    for pattern in _ADDRESS_RES:
        for m in pattern.finditer(view):
            if not _HAS_NUMBER_RE.search(m.group()):
                continue
            end = m.end()
            trailer = _TRAILER_RE.match(view[end : end + 40])
            if trailer:
                end += trailer.end()
            out.append(("ADDRESS", m.start(), end, 0.7))
    return out


def postcodes(view: str) -> list[Hit]:
    """POSTCODE hits in the formats above."""
    out = []
    if _POSTCODE_GATE_RE.search(view):
        out += [("POSTCODE", m.start(), m.end(), 0.7) for m in _POSTCODE_SHAPES_RE.finditer(view)]
    if has_any(view, _POSTCODE_WORDS):
        for m in _ANNOUNCED_POSTCODE_RE.finditer(view):
            if any(ch.isdigit() for ch in m.group(1)):
                out.append(("POSTCODE", m.start(1), m.end(1), 0.7))
    return out


# A flat or apartment on its own ("appartement 4B", "Wohnung 12", "flat 3", "apt. 5C",
# "piso 2º", "appartamento 7"): the flat word, an optional "no."/"#", and a short number with
# an optional letter or ordinal sign. Not a percentage, a price or a duration ("flat 3% fee").
_FLAT_WORDS = frozenset(
    """flat apt appt apartment appartement app wohnung whg piso apto apartamento appartamento interno
    int unit suite ste woning""".split()
)
_FLAT_RE = re.compile(
    r"(?i)\b(?:flat|apt|appt|apartment|appartement|app|wohnung|whg|piso|apto|apartamento|appartamento|"
    r"interno|int|unit|suite|ste|woning)\b\.?\s*(?:(?:no|nr|n|nº|n°)\.?\s*|#\s*)?"
    r"\d{1,4}(?:\s?[a-zA-Z](?!\w)|\s?[º°ª])?(?![\w%,.]\d|\d|\s*(?:%|€|\$|£)|[.,]\d|"
    r"\s+(?:years?|months?|weeks?|days?|hours?|minutes?|euros?|pounds?|dollars?|jahre?n?|monate?n?|"
    r"tage?n?|ans|mois|jours|años|meses|días|dias|anni|mesi|giorni|jaar|maanden|dagen)\b)"
)


def flats(view: str) -> list[Hit]:
    """ADDRESS hits for a flat or apartment number on its own (see _FLAT_RE)."""
    if not has_any(view, _FLAT_WORDS):
        return []
    return [("ADDRESS", m.start(), m.end(), 0.7) for m in _FLAT_RE.finditer(view)]
