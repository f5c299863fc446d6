"""Numbers: payment cards and IBANs in any grouping, and every other long digit group.

Minimisation where detection is uncertain: feedback analysis needs sentiment and topics, not
numbers, so a group of 5 or more digits is masked whatever it is (an order number, a postcode,
an id we have no rule for), unless it is plainly an amount, a percentage, a quantity with a
unit or a year range. Cards and IBANs get their own label when they validate, and an
IBAN-shaped token keeps the IBAN label even when its checksum fails (a typo is still a bank
account). Separators between digit groups may be blanks, dashes, dots, slashes or underscores.
"""

from __future__ import annotations

import re

from stdnum import iban as std_iban
from stdnum import luhn

from churn_workbench.pii.iban_lengths import IBAN_LENGTHS

Hit = tuple[str, int, int, float]

_SEP = r"[ \-./_]"
# Digits joined by single separators (a blank may be doubled); starts and ends on a digit.
_DIGIT_GROUP_RE = re.compile(r"(?<![\w.,])\d[\d \-./_]*")
_WIDE_GAP_RE = re.compile(r"[ \-./_]{3,}|[\-./_][ \-./_]")  # ends a group: more than one separator
MIN_DIGITS = 5
_NOT_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}

_CURRENCY_BEFORE_RE = re.compile(r"(?i)(?:[$€£¥₹₽₺₩]|\b(?:eur|usd|gbp|chf|sek|nok|dkk|pln|inr|brl|aud|cad|rs|r\$))\s?$")
_UNIT_AFTER_RE = re.compile(
    r"(?i)^\s?(?:%|[$€£¥₹]|percent|per ?cent|pour ?cent|prozent|por ?ciento|per ?cento|procent|"
    r"eur|euros?|usd|dollars?|gbp|pounds?|chf|francs?|kr|sek|nok|dkk|zł|pln|rupees?|inr|reais|brl|"
    r"ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?|weeks?|months?|years?|yrs?|"
    r"sekunden|minuten|stunden|tage[n]?|wochen|monate[n]?|jahre[n]?|secondes?|heures?|jours?|semaines?|mois|ans|"
    r"segundos?|minutos?|horas?|días|dias|semanas?|meses|años|anos|secondi|ore|giorni|settimane|mesi|anni|"
    r"seconden|uur|dagen|weken|maanden|jaar|"
    r"kb|mb|gb|tb|kbps|mbps|gbps|mbit|gbit|khz|mhz|ghz|kwh|wh|mah|km|m|cm|mm|kg|g|mg|l|ml|"
    r"mins|texts?|sms|calls?|users?|customers?|subscribers?|people|times|x)\b"
)
_AMOUNT_RE = re.compile(r"\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d{1,2})?|\d+[.,]\d{1,2}")
_YEAR_RANGE_RE = re.compile(r"(?:19|20)\d\d(?:\s?[-/]\s?(?:19|20)?\d\d)?")


def long_digit_groups(view: str) -> list[Hit]:
    """NUMBER hits: digit groups of >= MIN_DIGITS digits that are not amounts or quantities."""
    out = []
    for m in _DIGIT_GROUP_RE.finditer(view):
        start = m.start()
        group = _WIDE_GAP_RE.split(m.group(), maxsplit=1)[0].rstrip(" -./_")
        end = start + len(group)
        if end < len(view) and (view[end].isalpha() or view[end] == "_"):
            continue  # glued to a word ("12345abc"): an identifier other rules own
        if len(group) < MIN_DIGITS or len(group.translate(_NOT_DIGITS)) < MIN_DIGITS:
            continue
        if _AMOUNT_RE.fullmatch(group) or _YEAR_RANGE_RE.fullmatch(group):
            continue
        if _CURRENCY_BEFORE_RE.search(view[max(0, start - 5) : start]):
            continue
        if _UNIT_AFTER_RE.match(view[end : end + 16]):
            continue
        out.append(("NUMBER", start, end, 0.5))
    return out


# A card: 13-19 digits in any grouping, Luhn-valid, issuer digit 2-6 (Visa, Mastercard, Amex,
# Discover, JCB, UnionPay, Maestro).
_CARD_RE = re.compile(r"(?<![\w])[2-6](?:(?:[ \-./_]|  )?\d){12,18}(?![\w])")


def cards(view: str) -> list[Hit]:
    """CREDIT_CARD hits: Luhn-valid card numbers written with any separators."""
    out = []
    for m in _CARD_RE.finditer(view):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            out.append(("CREDIT_CARD", m.start(), m.end(), 1.0))
    return out


# Country code, check digits and BBAN; a separator may follow any character ("DE 89 37 04 ...").
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}(?:[ \-./_]?\d){2}(?:[ \-./_]?[A-Za-z0-9]){10,30}")
_ALNUM_RE = re.compile(r"[A-Za-z0-9]")


def ibans(view: str) -> list[Hit]:
    """IBAN hits: the registry length for the country, enough digits to be an account and
    not words; score 1.0 when the mod-97 checksum holds, 0.7 when only the shape does."""
    out = []
    for m in _IBAN_RE.finditer(view):
        country = m.group()[:2].upper()
        length = IBAN_LENGTHS.get(country)
        if not length:
            continue
        ends = [c.end() for c in _ALNUM_RE.finditer(m.group())]
        if len(ends) < length:
            continue
        end = m.start() + ends[length - 1]
        if end < len(view) and view[end].isalnum():
            continue  # the IBAN would end inside a word or number: not this shape
        compact = re.sub(r"[^A-Za-z0-9]", "", view[m.start() : end]).upper()
        if std_iban.is_valid(compact):
            out.append(("IBAN", m.start(), end, 1.0))
        elif sum(ch.isdigit() for ch in compact) >= 0.6 * len(compact) and not re.search(r"[A-Z]{5}", compact[4:]):
            out.append(("IBAN", m.start(), end, 0.7))  # IBAN-shaped; mostly letters would be a sentence
    return out


# Digits spelled out as words ("seven seven zero zero nine ...", "oh seven nine one one,
# one two three ..."): a run of 6+ digit words is a phone or account number read aloud and
# is masked like a long digit group. English, French, German and Spanish digit words;
# "double"/"triple" repeat the next digit. The gate is a set intersection with the text's
# words, without the zero words "o"/"oh" (interjections), so most texts pay one C-level test.
_DIGIT_WORDS = {
    "zero": 1, "oh": 1, "o": 1, "nought": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1, "six": 1,
    "seven": 1, "eight": 1, "nine": 1, "zéro": 1, "un": 1, "deux": 1, "trois": 1, "quatre": 1, "cinq": 1,
    "sept": 1, "huit": 1, "neuf": 1, "null": 1, "eins": 1, "zwei": 1, "zwo": 1, "drei": 1, "vier": 1,
    "fünf": 1, "sechs": 1, "sieben": 1, "acht": 1, "neun": 1, "cero": 1, "uno": 1, "dos": 1, "tres": 1,
    "cuatro": 1, "cinco": 1, "seis": 1, "siete": 1, "ocho": 1, "nueve": 1,
    "double": 0, "triple": 0, "doppel": 0,
}
DIGIT_WORD_SET = frozenset(w for w, n in _DIGIT_WORDS.items() if n)
DIGIT_WORD_GATE = frozenset(w for w, n in _DIGIT_WORDS.items() if n and w not in ("o", "oh", "un"))
_DIGIT_WORD_ALT = "|".join(sorted(_DIGIT_WORDS, key=len, reverse=True))
_SPELLED_RUN_RE = re.compile(
    rf"(?i)(?<![^\W\d_])(?:{_DIGIT_WORD_ALT})(?:[ \t]*[,.\-]?[ \t]+(?:{_DIGIT_WORD_ALT})){{5,}}(?![^\W\d_])"
)
_SPELLED_WORD_RE = re.compile(r"[^\W\d_]+")


def spelled_digit_runs(view: str) -> list[Hit]:
    """NUMBER hits for runs of 6+ spelled digits (see _DIGIT_WORDS)."""
    out = []
    for m in _SPELLED_RUN_RE.finditer(view):
        count, repeat = 0, 1
        for w in _SPELLED_WORD_RE.findall(m.group().lower()):
            if _DIGIT_WORDS[w] == 0:
                repeat = 3 if w == "triple" else 2
            else:
                count += repeat
                repeat = 1
        if count >= 6:
            out.append(("NUMBER", m.start(), m.end(), 0.6))
    return out
