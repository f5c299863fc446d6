"""Dates: numeric and written in words, in English, French, German, Spanish, Italian, Dutch and
Portuguese.

A full date (day, month and year) can be a date of birth, so every full date is masked; a
partial one ("12 March", "March 1990", "1963") only when a birth word announces it ("born",
"né le", "geboren", "nacido", "DOB", "b."). The day and the year may be written in words
("the twenty-fifth of December nineteen eighty-six", "dritten März 1971"). The analysis loses nothing it needs: sentiment and
topics do not hang on a date.
"""

from __future__ import annotations

import re
from functools import lru_cache

from churn_workbench.pii.words import has_any, words_of

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
_MONTH_WORDS = MONTH_WORDS = frozenset(MONTHS)
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
        if _ANY_DIGIT_RE.search(view):  # the day and year of these are digits
            out += [("DATE", m.start(), m.end(), 0.8) for m in _WORDED_DATE_RE.finditer(view)]
        if _has_number_word(view):
            out += worded_dates(view, bool(birth))
    if not birth:
        return out
    for b in _BIRTH_RE.finditer(view):
        window_end = min(len(view), b.end() + _BIRTH_WINDOW)
        m = _PARTIAL_DATE_RE.search(view, b.end(), window_end)
        if m and not any(s <= m.start() < e for _, s, e, _ in out):
            out.append(("DATE", m.start(), m.end(), 0.7))
        elif not m and _has_number_word(view):
            # a year in words: "born in nineteen eighty-six", "né en mille neuf cent soixante"
            y = _BIRTH_YEAR_WORDS_RE.search(view, b.end(), window_end)
            if y and _is_year(y.group()) and not any(s <= y.start() < e for _, s, e, _ in out):
                out.append(("DATE", y.start(), y.end(), 0.7))
    return out


# Dates with the day and/or the year in words ("the twenty-fifth of December nineteen
# eighty-six", "onze février mille neuf cent soixante-trois", "dritten März 1971",
# "veinticinco de diciembre de mil novecientos ochenta y seis"). A number word is a run of
# number stems of one of the languages, glued (German, Dutch, Italian compounds), hyphenated
# or joined by "and"/"et"/"und"/"y"/"e"/"en", with an optional ordinal ending. They are looked
# for only next to a month word, so the cost is per month word, not per character.
_NUMBER_STEMS = (
    # English
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand first second third fifth eighth ninth twelfth twentieth thirtieth "
    # French
    "un une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize "
    "vingt vingts trente quarante cinquante soixante cent cents mille premier première cinqu neuv "
    # German
    "eins ein eine zwei drei vier fünf fuenf sechs sech sieben sieb acht neun zehn elf zwölf zwoelf "
    "zwanzig dreißig dreissig vierzig fünfzig fuenfzig sechzig siebzig achtzig neunzig hundert "
    "tausend erst drit "
    # Spanish
    "uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieci "
    "dieciséis veinte veinti dós trés séis treinta cuarenta cincuenta sesenta setenta ochenta noventa "
    "cien ciento cientos doscientos trescientos cuatrocientos quinientos seiscientos setecientos "
    "ochocientos novecientos mil primero primer "
    # Italian
    "due tre tré quattro cinque sei sette otto nove dieci undici dodici tredici quattordici "
    "quindici sedici diciassette diciotto diciannove venti vent trenta trent quaranta quarant "
    "cinquanta cinquant sessanta sessant settanta settant ottanta ottant novanta novant cento "
    "mila primo prima "
    # Dutch
    "een één twee drie vijf zes zeven negen tien twaalf dertien veertien vijftien zestien "
    "zeventien achttien negentien twintig dertig veertig vijftig zestig zeventig tachtig negentig "
    "honderd duizend eerste eerst derde"
).split()
_STEM = "(?:" + "|".join(sorted(set(_NUMBER_STEMS), key=len, reverse=True)) + ")"
_ORDINAL_END = r"(?:th|st|nd|rd|ième|ieme|ème|eme|sten|ster|stes|ste|ten|ter|tes|te|de|e|en|er|es|o|a)?"
_NUMBER_WORD = rf"{_STEM}(?:-?(?:und|en|et|y|e)?-?{_STEM}){{0,6}}{_ORDINAL_END}"
_NUMBER_PHRASE = (rf"(?<![\w\-]){_NUMBER_WORD}(?:(?:\s+|-)(?:(?:and|et|und|y|e|en)\s+)?{_NUMBER_WORD}){{0,5}}"
                  r"(?![\w\-])")
_WORD_DAY = rf"(?:{_DAY}|1er|{_NUMBER_PHRASE})"
_WORD_YEAR = rf"(?P<year>{_YEAR}|{_NUMBER_PHRASE})"
_BIRTH_YEAR_WORDS_RE = re.compile(rf"(?i){_NUMBER_PHRASE}")


@lru_cache(maxsize=None)
def _month_word_re(word: str) -> re.Pattern[str]:
    """One month word, any case: scanning for the text's own month words is much cheaper
    than one alternation of all of them."""
    return re.compile(rf"(?i)(?<!\w){re.escape(word)}\.?(?!\w)")
# day before the month: "twenty-fifth of", "le onze", "dritten", "25"
_DAY_BEFORE_RE = re.compile(rf"(?i){_WORD_DAY}(?:\s+(?:of|de|del|di|du)\s+|\s*,?\s+|\s*\.\s*)$")
# year after the month: " nineteen eighty-six", " de mil novecientos", " 1971"
_YEAR_AFTER_RE = re.compile(rf"(?i)(?:\s+(?:of|de|del|di|du)\s+|\s*,?\s+){_WORD_YEAR}")
# month first: "December the twenty-fifth, nineteen eighty-six"
_DAY_YEAR_AFTER_RE = re.compile(rf"(?i)\s+(?:the\s+)?{_WORD_DAY},?\s+{_WORD_YEAR}")
_NUMBER_WORD_START = tuple(s for s in set(_NUMBER_STEMS) if len(s) >= 3) + ("un", "1er")
_LOOK_BACK = 80
_ANY_DIGIT_RE = re.compile(r"\d")
_LINK_WORDS = frozenset(("of", "de", "del", "di", "du", ","))


def _looks_numeric(token: str) -> bool:
    """Cheap test of one token next to a month word: a digit or the start of a number word."""
    token = token.strip(",.").lower()
    return bool(token) and (token[0].isdigit() or token.startswith(_NUMBER_WORD_START))


def _number_before(view: str, start: int) -> bool:
    """The word before the month (past "of", "de", "the") could be a day."""
    tokens = view[max(0, start - 30) : start].split()
    while tokens and tokens[-1].lower() in _LINK_WORDS:
        tokens.pop()
    return bool(tokens) and _looks_numeric(tokens[-1])


def _number_after(view: str, end: int) -> bool:
    """The word after the month (past "the") could be a day."""
    tokens = view[end : end + 30].split()[:2]
    if tokens and tokens[0].lower() == "the":
        tokens.pop(0)
    return bool(tokens) and _looks_numeric(tokens[0])


def _is_year(phrase: str) -> bool:
    """A year: four digits, or number words long enough to be one ("nineteen eighty-six",
    "mille neuf cent soixante-trois", "neunzehnhunderteinundsiebzig"), not "two" or "one"."""
    if any(ch.isdigit() for ch in phrase):
        return True
    words = phrase.split()
    return len(phrase) >= 8 and (len(words) >= 2 or "-" in phrase or len(phrase) >= 12)


def _has_number_word(view: str) -> bool:
    """Cheap gate: a word of the text starts like a number word."""
    return any(w.startswith(_NUMBER_WORD_START) for w in words_of(view))


def worded_dates(view: str, birth: bool) -> list[Hit]:
    """Dates with the day and/or year in words, around each month word: day + month + year
    always, day + month after a birth word (`birth`: the text has one)."""
    out: list[Hit] = []
    months = [m for w in words_of(view) & _MONTH_WORDS for m in _month_word_re(w).finditer(view)]
    for m in months:
        lo = max(0, m.start() - _LOOK_BACK)
        before = _DAY_BEFORE_RE.search(view, lo, m.start()) if _number_before(view, m.start()) else None
        start = before.start() if before else None
        end = None
        if start is not None:
            after = _YEAR_AFTER_RE.match(view, m.end())
            if after and _is_year(after.group("year")):
                end = after.end()
            elif birth:
                end = m.end()
        elif _number_after(view, m.end()):
            after = _DAY_YEAR_AFTER_RE.match(view, m.end())
            if after and _is_year(after.group("year")):
                start, end = m.start(), after.end()
        if start is not None and end is not None:
            out.append(("DATE", start, end, 0.75))
    return out
