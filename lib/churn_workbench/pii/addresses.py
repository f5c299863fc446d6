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
# a house number, a range of them ("14-16") and a letter or bis/ter
_NUM = r"\d{1,5}(?:\s?[-–]\s?\d{1,5})?(?:\s?[a-zA-Z](?![\w]))?(?:\s?(?:bis|ter))?"
# English street names may be numbered ("42nd", "5th") and carry a direction before them
# ("W 42nd", "West 42nd", "N. Main"); the direction is just another capitalised word.
_ORDINAL = r"\d{1,3}(?i:st|nd|rd|th)\b"
_NAME_EN = rf"(?:{_CAP}|{_ORDINAL})(?:\s+(?:{_CAP}|{_ORDINAL})){{0,3}}"
_FLAT = r"(?:(?:flat|apt|apartment|unit|suite|ste|appartement|app|wohnung|whg|piso|apto|interno|int)\.?\s*#?\d{1,4}[a-zA-Z]?,?\s+)"
_EN_TYPES = (r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|crescent|cres|place|pl|"
             r"terrace|gardens|grove|square|sq|boulevard|blvd|hill|row|mews|parade|walk|park|circle|"
             r"highway|hwy|parkway|pkwy")
_PARTICLES = r"(?:(?:de|du|des|la|le|les|l'|d'|del|dei|degli|della|delle|di|da|do|dos|das|el|los|las|van|der)\s*)*"

_TYPE_FIRST = (r"rue|avenue|av|bd|boulevard|place|allée|allee|chemin|impasse|quai|route|cours|calle|c/|avda|avenida|"
               r"plaza|pza|paseo|camino|carretera|ronda|travesía|travesia|via|vía|viale|piazza|p\.zza|corso|largo|"
               r"vicolo|rua|praça|praca|travessa|estrada")
_STREET_ADJ = (r"Gran|Grande|Grand|Nueva|Nuevo|Vieja|Viejo|Antigua|Antiguo|Nova|Velha|Vecchia|Vecchio|Nuova|Nuovo|"
               r"Antica|Petite|Vieille|Vieux|Ancienne")
_ADDRESS_RES = (
    # EN: 12 Baker Street, 350 Fifth Ave NW, Flat 3, 27 Orchard Close
    re.compile(rf"(?i:{_FLAT})?\b{_NUM},?\s+{_NAME_EN}\s+(?i:{_EN_TYPES})\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"),
    # FR / ES / IT / PT with the type first: 12 rue de la Paix, Calle Mayor 12, Via Roma 10;
    # an adjective before the type makes it a name on its own ("Gran Vía 28", "Grande Rue 3");
    # a Spanish floor and side after the number ("5º dcha", "3º izq") belongs to the address
    re.compile(
        rf"(?i:{_FLAT})?(?:\b{_NUM},?\s+)?(?:\b(?:{_STREET_ADJ})\s+\b(?i:{_TYPE_FIRST})\.?(?:\s+{_PARTICLES}{_NAME})?"
        rf"|\b(?i:{_TYPE_FIRST})\.?\s+{_PARTICLES}{_NAME})"
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
# A US town may have several words and a comma before its state ("New York, NY 10036").
_TRAILER_RE = re.compile(
    r"^,?\s*(?:\d{4,5}\s+[A-ZÀ-Þ][\w\-]+|[A-ZÀ-Þ][\w\-]+(?:\s+[A-Z][\w\-]+){0,2}(?:,?\s+[A-Z]{2})?\s+\d{5}(?:-\d{4})?|"
    r"[A-ZÀ-Þ][\w\-]+,?\s+[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2})"
)

_POSTCODE_SHAPES_RE = re.compile(
    r"\b(?:GIR\s?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}"  # UK
    r"|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d"  # Canada
    r"|[1-9]\d{3}\s?(?!SA|SD|SS)[A-Z]{2}(?=\s+[A-Z][a-z]))\b"  # NL, before a town
)
_POSTCODE_GATE_RE = re.compile(r"[A-Z]\d|\d ?[A-Z]")  # every shape above has a capital next to a digit
# The value may be written unspaced ("1017gc", "sw1a1aa": up to 8 characters in one piece)
# and after "is"/"ist"/"est"; it must hold a digit (checked in postcodes()).
_ANNOUNCED_POSTCODE_RE = re.compile(
    r"(?i)\b(?:post\s?code|postal\s?code|zip(?:\s?code)?|plz|code\s?postal|cp|c\.p|cap|código\s?postal|"
    r"codice\s?postale)\b\.?\s*:?\s*(?:(?:is|ist|est|es|è|era|was)\s+)?([A-Z0-9]{2,8}(?:[\s\-][A-Z0-9]{2,4})?)\b"
)
# A UK postcode in any case ("ec1a1bb", "sw1a 1aa"). Lower-case shapes also match everyday
# tokens ("ps4 2nd"), so they count only after a location cue ("I'm in", "my area",
# "postcode", "live in", "near"). Candidates come from a case-sensitive class regex (fast);
# the cue is checked on the few characters before each.
_UK_ANY_CASE_RE = re.compile(
    r"\b(?:[Gg][Ii][Rr]\s?0[Aa][Aa]|[A-PR-UWYZa-pr-uwyz][A-HK-Ya-hk-y]?\d[A-Za-z\d]?\s?\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2})\b"
)
_UK_GATE_RE = re.compile(r"\d[A-Za-z]{2}\b")  # every UK postcode ends so
_UK_CUE_BEFORE_RE = re.compile(
    r"(?i)(?:\b(?:i'?m|i\s+am|we'?re|we\s+are|live|living|lives|based|located|moved|stay|staying)\s+(?:in|to|near|at)|\bmy\s+area(?:\s+is)?"
    r"|\barea|\bnear|\baround|\bpost\s?code(?:\s+is)?)\s*:?\s*$"
)

# Cheap gates: a street-type word, or a word ending in one ("Goethestr", "Kerkstraat").
_TYPE_WORDS = frozenset(
    _EN_TYPES.split("|")
    + """rue av bd boulevard place allée allee chemin impasse quai route cours calle c avda avenida plaza
    pza paseo camino carretera ronda travesía travesia via vía viale piazza zza corso largo vicolo rua praça
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


# Streets without a type word ("Am Markt 5", "Unter den Linden 77", "Jungfernstieg 1"): a
# capitalised name (German particles allowed inside) and a house number are an address only
# when a postcode and town follow ("..., 2. OG links, 04109 Leipzig") or an address cue
# precedes ("wohne am ...", "Adresse: ...", "Lieferadresse ..."). Without either, "Windows 10"
# or "Am Montag 5 Stunden" would look the same.
_DE_PARTICLE = r"(?:den|der|dem|des|am|im|an|auf|zum|zur|vom|von|bei|in|unter|hinter|vor)"
_UNTYPED_STREET = rf"[A-ZÀ-Þ][\w\-]+(?:\s+(?:{_DE_PARTICLE}|{_CAP})){{0,3}}\s+\d{{1,4}}(?:\s?[-–]\s?\d{{1,4}})?(?:\s?[a-z](?!\w))?"
# a German floor/side after the number: "2. OG links", "EG rechts", "3. Stock", "Hinterhaus"
_DE_FLOOR = r"(?:,?\s*(?:\d{1,2}\.?\s*(?:OG|Obergeschoss|Stock|Etage|UG)|EG|DG|Hinterhaus|Vorderhaus)(?:\s+(?:links|rechts|mitte|li|re)\b\.?)?)"
_STREET_POSTCODE_TOWN_RE = re.compile(
    rf"\b{_UNTYPED_STREET}{_DE_FLOOR}?,?\s+\d{{4,5}}\s+[A-ZÀ-Þ][\w\-]+"
)
_POSTCODE_TOWN_GATE_RE = re.compile(r"\d{4}\d?\s+[A-ZÀ-Þ]")
_ADDRESS_CUE_RE = re.compile(
    rf"(?:(?i:\b(?:wohne|wohnen|wohnt)\s+(?:jetzt\s+)?(?:in\s+der|in)?|"
    rf"\b(?:adresse|anschrift|lieferadresse|rechnungsadresse|wohnadresse|neue\s+adresse)(?:\s+(?:ist|lautet))?\s*:?)"
    # "an" (deliver to) only before a street that starts like one: "an Am Markt 5"
    rf"|\b[Aa]n(?=\s+(?:Am|Im|An|Auf|Zum|Zur|Unter|Hinter|Vor|Bei)\s+[\w\-]+\s)"
    rf")\s*((?:(?i:am|im|an\s+der|an\s+den|auf\s+der|auf\s+dem|zum|zur)\s+)?{_UNTYPED_STREET}{_DE_FLOOR}?)(?![\w%]|[.,]\d|\s*(?:%|€|\$)|\s+(?i:jahre?n?|monate?n?|tage?n?|wochen?|stunden?|minuten?|euro|mal|uhr)\b)"
)
_ADDRESS_CUE_WORDS = frozenset("an wohne wohnen wohnt adresse anschrift lieferadresse rechnungsadresse wohnadresse".split())


def streets_before_postcode(view: str) -> list[Hit]:
    """ADDRESS hits for streets without a type word before a postcode and town (see
    _STREET_POSTCODE_TOWN_RE); the engine calls it only with 5+ digits in the text."""
    if not _POSTCODE_TOWN_GATE_RE.search(view):
        return []
    return [("ADDRESS", m.start(), m.end(), 0.6) for m in _STREET_POSTCODE_TOWN_RE.finditer(view)]


def cued_streets(view: str) -> list[Hit]:
    """ADDRESS hits for streets without a type word after an address cue (_ADDRESS_CUE_RE)."""
    out = []
    if has_any(view, _ADDRESS_CUE_WORDS):
        for m in _ADDRESS_CUE_RE.finditer(view):
            end = m.end(1)
            trailer = _TRAILER_RE.match(view[end : end + 40])
            out.append(("ADDRESS", m.start(1), end + (trailer.end() if trailer else 0), 0.6))
    return out


def postcodes(view: str) -> list[Hit]:
    """POSTCODE hits in the formats above."""
    out = []
    if _POSTCODE_GATE_RE.search(view):
        out += [("POSTCODE", m.start(), m.end(), 0.7) for m in _POSTCODE_SHAPES_RE.finditer(view)]
    for m in _UK_ANY_CASE_RE.finditer(view) if _UK_GATE_RE.search(view) else ():
        if not m.group().isupper() and _UK_CUE_BEFORE_RE.search(view, max(0, m.start() - 25), m.start()):
            out.append(("POSTCODE", m.start(), m.end(), 0.6))
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
