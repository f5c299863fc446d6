"""National identity numbers, passports and identity documents.

Numbers with a checksum are validated with python-stdnum (US SSN area rules, French NIR key,
Spanish DNI/NIE letter, German tax id, Italian codice fiscale, Dutch BSN); the UK National
Insurance number by its published prefix rules. A number announced by an id word ("SSN",
"passport", "Reisepass", "DNI", "numéro de sécurité sociale", ...) is masked whatever its
checksum says: a typo in one's own id is still one's id.
"""

from __future__ import annotations

import re

from churn_workbench.pii.words import has_any

from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

Hit = tuple[str, int, int, float]

# Numbers recognisable by shape and checksum alone: one scan, a named group per kind.
# Case-sensitive classes ([A-Za-z]): case-insensitive alternations are several times slower.
_CHECKED_RE = re.compile(
    r"\b(?:(?P<ssn>\d{3}[- ]\d{2}[- ]\d{4})"
    r"|(?P<nir>[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[ABab])[ .]?\d{3}[ .]?\d{3}[ .]?\d{2})"
    r"|(?P<dni>\d{8}[- ]?[A-Za-z])|(?P<nie>[XYZxyz][- ]?\d{7}[- ]?[A-Za-z])"
    r"|(?P<idnr>\d{2} ?\d{3} ?\d{3} ?\d{3})"
    r"|(?P<cf>[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]))\b"
)
_VALIDATORS = {
    "ssn": ssn.is_valid, "nir": nir.is_valid, "dni": lambda v: dni.is_valid(v.upper()),
    "nie": lambda v: nie.is_valid(v.upper()), "idnr": idnr.is_valid,
    "cf": lambda v: codicefiscale.is_valid(v.upper()),
}
# UK National Insurance number: two prefix letters (not D F I Q U V; second not O; not the
# administrative prefixes BG GB KN NK NT TN ZZ), six digits in any grouping, suffix A-D.
_NINO_RE = re.compile(
    r"\b(?!(?i:bg|gb|kn|nk|nt|tn|zz))[A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z][A-CEGHJ-NPR-TW-Za-ceghj-npr-tw-z]"
    r"[ \-]?\d{2}[ \-]?\d{2}[ \-]?\d{2}[ \-]?[A-Da-d]\b"
)

_ID_WORDS = (
    r"ssn|social\s+security(?:\s+number|\s+no\.?)?|national\s+insurance(?:\s+number|\s+no\.?)?|ni\s+(?:number|no\.?)|nino|"
    r"national\s+id(?:entity)?(?:\s+number|\s+no\.?)?|id(?:entity)?\s+(?:card|number|no\.?)|personal\s+(?:id|number)|"
    r"tax\s+(?:id|number)|tin|nir|numéro\s+de\s+sécu(?:rité\s+sociale)?|sécu|carte\s+(?:d'identité|vitale)|"
    r"steuer-?id|steueridentifikationsnummer|steuernummer|idnr|personalausweis(?:nummer)?|ausweisnummer|"
    r"dni|nie|nif|documento\s+(?:de\s+identidad|nacional)|codice\s+fiscale|carta\s+d'identità|"
    r"bsn|burgerservicenummer|sofinummer|identiteitskaart|driving\s+licen[cs]e(?:\s+number|\s+no\.?)?|"
    r"führerschein(?:nummer)?|permis\s+de\s+conduire"
)
# German and Dutch write the number word into the compound ("Reisepassnummer",
# "paspoortnummer", "Passnummer"): the stem takes an optional number suffix before \b.
_PASSPORT_WORDS = (r"(?:passport|passeport|reisepass|pass|pasaporte|passaporto|paspoort|passaporte)"
                   r"(?:-?(?:nummer|nr|number|no|num))|passport|passeport|reisepass|pasaporte|passaporto|"
                   r"paspoort|passaporte")
# Filler words end at a word boundary ("ist" is not "is" + "t"), and the value starts on one,
# so a filler's letters never leak into the value span.
_FILLER = (r"(?:\s*(?:(?:number|no|nr|num|n|numéro|nummer|número|numero|is|was|est|ist|es|è|lautet|war|era)\b"
           r"|n°|nº|#|:|=|-|\.)\s*)*")
_VALUE = r"(?<!\w)([A-Z0-9][A-Z0-9 \-./]{3,20}[A-Z0-9])"
_ANNOUNCED_ID_RE = re.compile(rf"(?i)\b(?:{_ID_WORDS})\b\s*{_FILLER}{_VALUE}")
_ANNOUNCED_PASSPORT_RE = re.compile(rf"(?i)\b(?:{_PASSPORT_WORDS})\b\s*{_FILLER}{_VALUE}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")


# Cheap gates: five digits close together (every checked id has more), and an id word's stem.
_DIGITS_HINT_RE = re.compile(r"\d(?:\D{0,2}\d){4}")
_ID_WORD_STEMS = frozenset(
    """ssn social insurance ni nino national id identity tax tin nir sécurité sécu carte steuer steuernummer
    steueridentifikationsnummer idnr personalausweis personalausweisnummer ausweisnummer dni nie nif
    documento codice carta bsn burgerservicenummer sofinummer identiteitskaart driving licence license
    führerschein führerscheinnummer permis personal passport passeport reisepass pass nr pasaporte
    passaporto paspoort passaporte passnummer reisepassnummer paspoortnummer passportnumber passnr
    reisepassnr paspoortnr""".split()
)


def national_ids(view: str) -> list[Hit]:
    """NATIONAL_ID and PASSPORT hits."""
    out: list[Hit] = []
    if _DIGITS_HINT_RE.search(view):
        for m in _CHECKED_RE.finditer(view):
            if _VALIDATORS[m.lastgroup](m.group()):
                out.append(("NATIONAL_ID", m.start(), m.end(), 0.9))
        for m in _NINO_RE.finditer(view):
            out.append(("NATIONAL_ID", m.start(), m.end(), 0.8))
    if has_any(view, _ID_WORD_STEMS):
        for pattern, entity in ((_ANNOUNCED_ID_RE, "NATIONAL_ID"), (_ANNOUNCED_PASSPORT_RE, "PASSPORT")):
            for m in pattern.finditer(view):
                span = _value_span(view, m.start(1), m.end(1))
                if span:
                    out.append((entity, span[0], span[1], 0.8))
    return out


# One-letter words that join a sentence, not an id ("... 12345 e poi", "... y nada").
_CONJUNCTIONS = frozenset("e y o u i a è".split())


def _value_span(view: str, start: int, end: int) -> tuple[int, int] | None:
    """The announced value: leading tokens that hold a digit or are short upper-case letter
    groups of an id ("AB 12 34 56 C"), stopping at the first ordinary word; None without any
    digit. Written in lower case ("qq 12 34 56 c") a letter group of one or two letters still
    belongs to the id when it touches a digit group: a prefix before one, or a suffix after
    one that does not go on into a sentence (not "12345 e poi")."""
    tokens = list(_TOKEN_RE.finditer(view, start, end))
    last_end = None
    for i, t in enumerate(tokens):
        token = t.group()
        if not any(ch.isdigit() for ch in token) and (len(token) > 3 or not token.isupper()):
            if len(token) > 2:
                break
            before = i > 0 and any(ch.isdigit() for ch in tokens[i - 1].group())
            after = i + 1 < len(tokens) and any(ch.isdigit() for ch in tokens[i + 1].group())
            rest = view[t.end() : t.end() + 2].lstrip()
            goes_on = bool(rest) and rest[0].isalpha()
            if not after and not (before and not (goes_on and token.lower() in _CONJUNCTIONS)):
                break
        last_end = t.end()
    if last_end is None or not any(ch.isdigit() for ch in view[start:last_end]):
        return None
    return start, last_end
