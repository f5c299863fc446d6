"""Dates: numeric and written in words, in English, French, German, Spanish, Italian, Dutch and
Portuguese.

A full date (day, month and year) can be a date of birth, so every full date is masked; a
partial one ("12 March", "March 1990", "1963") only when a birth word announces it ("born",
"né le", "geboren", "nacido", "DOB", "b."). The analysis loses nothing it needs: sentiment and
topics do not hang on a date.
"""

from __future__ import annotations

import re

from churn_workbench.pii.words import has_any

Hit = tuple[str, int, int, float]

MONTHS = (
    # English
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    # French
    "janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre "
    "décembre decembre janv févr fevr avr juil déc "
    # German
    "januar jänner februar märz maerz juni juli oktober dezember okt dez "
    # Spanish
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre "
    "diciembre ene "
    # Italian
    "gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre gen mag giu lug ago "
    "set ott dic "
    # Dutch
    "januari februari maart mei augustus mrt "
    # Portuguese
    "janeiro fevereiro março marco junho julho setembro outubro novembro dezembro fev"
).split()
_MONTH = "(?:" + "|".join(sorted(set(MONTHS), key=len, reverse=True)) + r")\.?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th|er|e|º|°|\.)?"
_YEAR = r"(?:1[89]\d\d|20\d\d|'\d\d)"
_OF = r"(?:\s+(?:of|de|del|di|du)\s+|\s*,?\s+|\s*\.\s*|\s*-\s*)"

_WORDED_DATE_RE = re.compile(
    rf"(?i)\b(?:"
    # 11 février 1963, 3rd of May 1990, 12. März 1975, 5 de mayo de 1980, 1er janvier 2000
    rf"(?:{_DAY}|premier|1er){_OF}{_MONTH}(?:{_OF}|\s+){_YEAR}"
    # May 3rd, 1990 / March 12 1975
    rf"|{_MONTH}\s+{_DAY},?\s+{_YEAR}"
    r")(?![\w/])"
)
_NUMERIC_DATE_RE = re.compile(
    # 12/25/86, 25.12.1986, 25-12-86; 1986-12-25, 1986/12/25
    r"\b(?:(?:[12]\d|3[01]|0?[1-9])[./-](?:[12]\d|3[01]|0?[1-9])[./-](?:\d{4}|\d{2})"
    r"|(?:1[89]|20)\d\d[./-](?:1[0-2]|0?[1-9])[./-](?:[12]\d|3[01]|0?[1-9]))(?![\w/])"
)
_PARTIAL_DATE_RE = re.compile(
    rf"(?i)\b(?:(?:{_DAY}|premier|1er){_OF}{_MONTH}|{_MONTH}\s+{_DAY}|{_MONTH}(?:{_OF}|\s+){_YEAR}"
    rf"|(?:[12]\d|3[01]|0?[1-9])[./](?:1[0-2]|0?[1-9])\.?|{_YEAR})(?![\w/])"
)
_BIRTH_RE = re.compile(
    r"(?i)(?:\bborn\b|\bbirth|\bbirthday|\bd\.?o\.?b\b|(?<![\w.])b\.|\bnée?\b|\bnaissance|\bgeboren|"
    r"\bgeb\.|\bgeburts|\bnacid[oa]\b|\bnacimiento|\bnat[oa]\b|\bnascit|\bnascid[oa]\b|\bnascimento|"
    r"\bgeboortedatum|\bverjaardag|\bcumpleaños|\banniversaire|\bcompleanno)"
)
_BIRTH_WINDOW = 30


# Cheap gates: a month word or a numeric date shape; a birth word's stem.
_MONTH_WORDS = frozenset(MONTHS)
_NUMERIC_HINT_RE = re.compile(r"\d[./-]\d{1,2}[./-]\d")
BIRTH_WORDS = frozenset(
    """born birth birthday dob b d o née né naissance geboren geb geburtsdatum geburtstag nacido nacida
    nacimiento nato nata nascita nascido nascida nascimento geboortedatum verjaardag cumpleaños
    anniversaire compleanno""".split()
)


def dates(view: str) -> list[Hit]:
    """DATE hits: every full date; partial dates within a few words after a birth word."""
    birth = has_any(view, BIRTH_WORDS) and _BIRTH_RE.search(view)
    out: list[Hit] = []
    if _NUMERIC_HINT_RE.search(view):
        out += [("DATE", m.start(), m.end(), 0.8) for m in _NUMERIC_DATE_RE.finditer(view)]
    if has_any(view, _MONTH_WORDS):
        out += [("DATE", m.start(), m.end(), 0.8) for m in _WORDED_DATE_RE.finditer(view)]
    if not birth:
        return out
    for b in _BIRTH_RE.finditer(view):
        window_end = min(len(view), b.end() + _BIRTH_WINDOW)
        m = _PARTIAL_DATE_RE.search(view, b.end(), window_end)
        if m and not any(s <= m.start() < e for _, s, e, _ in out):
            out.append(("DATE", m.start(), m.end(), 0.7))
    return out
