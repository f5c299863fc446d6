"""Phone numbers in national and international formats, validated with `phonenumbers`
(its metadata ships in the wheel: no network)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from presidio_analyzer import LocalRecognizer, RecognizerResult

from churn_workbench.pii.recognizers import recognizer_result

# Regions whose national formats ("020 7946 0958", "06 12 34 56 78") we recognise, in the
# order they are tried. Numbers written with +CC / 00CC are recognised for every country.
PHONE_REGIONS = (
    "GB", "US", "DE", "FR", "NL", "ES", "IT", "IN", "BR", "AU", "IE", "BE", "CH", "AT", "PT",
    "PL", "SE", "DK", "NO", "MX", "ZA",
)


class PhoneNumberRecognizer(LocalRecognizer):
    """Phone numbers in national and international formats.

    Candidates are digit runs with phone separators; a candidate is a phone number when
    - it starts with + or 00 and is a possible number for its country code, or
    - it is a valid national number for one of PHONE_REGIONS, or
    - it has 7-15 digits and a phone word ("call", "mobile", "tel", ...) shortly before it.
    Dates, times, dotted quads, thousands-grouped amounts and digit runs announced as an
    order/ticket/account number are not phone numbers.
    """

    ENTITY = "PHONE"
    _CANDIDATE_RE = re.compile(
        r"(?<![\w+.,/-])(?:\+|\b00)?[ \t]?\(?\d(?:[ \t]{0,2}[().\-/]?[ \t]{0,2}\(?\d){5,18}\)?(?![\w])"
    )
    # Words that announce a phone number; the weak ones ("number", "no") also announce order
    # or account numbers, so they only count when no such word is nearby.
    _PHONE_WORDS_RE = re.compile(
        r"(?i)\b(?:call|calls|called|calling|ring|phone|tel|telephone|mobile|cell|cellphone|"
        r"landline|whatsapp|sms|text|reach|fax|dial|handy|móvil|movil|telefono|teléfono|"
        r"telefone|portable|telefoon|mobiel|tél|tlf)\b[^\n\d]{0,25}$"
    )
    _WEAK_PHONE_WORDS_RE = re.compile(r"(?i)\b(?:number|no|nr|num|contact)\b[^\n\d]{0,25}$")
    _NOT_PHONE_WORDS_RE = re.compile(
        r"(?i)\b(?:order|invoice|ticket|ref|reference|case|tracking|parcel|serial|imei|iccid|"
        r"account|acct|customer|contract|policy|member|membership|transaction|confirmation|"
        r"booking|receipt|postcode|zip|iban|card|sort|code|version|model|id)\b[^\n\d]{0,20}$"
    )
    _DATE_RE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
    _DOTTED_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|\d{1,3}(?:[.,]\d{3})+")
    # "2019-2021", "1998 - 2004", "2019/20": a year range, not a phone (8 digits pass some
    # regions' numbering plans); checked before any validation, so it also saves time
    _YEAR_RANGE_RE = re.compile(r"((?:19|20)\d\d)\s?[-–/]\s?((?:19|20)?\d\d)")

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name="PhoneNumberRecognizer")

    def load(self) -> None:  # noqa: D102 - nothing to load: phonenumbers metadata is in the wheel
        pass

    def analyze(self, text, entities, nlp_artifacts=None, known_spans=()) -> list[RecognizerResult]:
        """Return PHONE results for `text` (see class docstring). A candidate inside one of
        `known_spans` (already masked as something that outranks a phone) is not validated:
        parsing it for every region is the costliest step, and it is masked either way."""
        results = []
        for m in self._CANDIDATE_RE.finditer(text):
            start, end = m.span()
            while text[start] in " \t":
                start += 1
            if known_spans and any(s <= start and end <= e for s, e in known_spans):
                continue
            score = self._score(text, start, end)
            if score:
                results.append(recognizer_result(self, self.ENTITY, start, end, score))
            elif sum(c.isdigit() for c in text[start:end]) > 11:
                results.extend(self._split_run(text, start, end))
        return results

    def _split_run(self, text: str, start: int, end: int) -> list[RecognizerResult]:
        """Numbers written back to back ("07911 123456 07922 654321") form one candidate:
        try the longest run of blank-separated groups that starts like a phone number
        (0 or +) and is valid. Card numbers and IBANs (no group starting 0/+) cost nothing."""
        groups = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
        results = []
        i = 0
        while i < len(groups):
            if text[groups[i][0]] not in "0+":
                i += 1
                continue
            j = self._longest_valid(text, groups, i)
            if j > i:
                results.append(recognizer_result(self, self.ENTITY, groups[i][0], groups[j - 1][1], 0.7))
                i = j
            else:
                i += 1
        return results

    @staticmethod
    def _longest_valid(text: str, groups: list[tuple[int, int]], i: int) -> int:
        """Largest j such that groups[i:j] spell a valid phone number (i if none)."""
        for j in range(len(groups), i, -1):
            candidate = text[groups[i][0] : groups[j - 1][1]]
            n_digits = sum(c.isdigit() for c in candidate)
            if 9 <= n_digits <= 15 and _valid_in_some_region(candidate):
                return j
        return i

    def _score(self, text: str, start: int, end: int) -> float | None:
        """Score one candidate text[start:end], or None when it is not a phone number."""
        candidate = text[start:end]
        digits = re.sub(r"\D", "", candidate)
        international = candidate.startswith("+") or candidate.startswith("00")
        if len(digits) > 15 + (2 if candidate.startswith("00") else 0):
            return None
        if self._DATE_RE.fullmatch(candidate.strip("()")) or self._DOTTED_RE.fullmatch(candidate):
            return None
        year_range = self._YEAR_RANGE_RE.fullmatch(candidate)
        if year_range and int(year_range.group(1)[-len(year_range.group(2)):]) <= int(year_range.group(2)):
            return None
        phone_word, not_phone = self._cues(text[max(0, start - 40) : start])
        if not_phone and not international:
            return None
        if international:
            return self._international_score(candidate)
        if len(digits) < 7:
            return None
        unseparated = candidate.isdigit()
        if unseparated and not candidate.startswith("0") and not phone_word:
            return None  # "order 123456789": a bare run is only a phone with a leading 0 or a cue
        if _valid_in_some_region(candidate):
            return 0.7
        return 0.55 if phone_word and len(digits) <= 15 else None

    def _cues(self, before: str) -> tuple[bool, bool]:
        """(announced as a phone, announced as something else) from the text before a
        candidate; the closer cue wins, and "number"/"no" only count when nothing says
        "order"/"account"/... ("order number 123456789" is no phone)."""
        strong = self._PHONE_WORDS_RE.search(before)
        negative = self._NOT_PHONE_WORDS_RE.search(before)
        strong_at = strong.start() if strong else -1
        negative_at = negative.start() if negative else -1
        if negative_at > strong_at:
            return False, True
        if strong:
            return True, False
        return self._WEAK_PHONE_WORDS_RE.search(before) is not None, False

    @staticmethod
    def _international_score(candidate: str) -> float | None:
        """+CC / 00CC numbers: valid -> 0.8, merely possible -> 0.6."""
        number = candidate if candidate.startswith("+") else "+" + candidate[2:]
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(parsed):
            return 0.8
        return 0.6 if phonenumbers.is_possible_number(parsed) else None


@lru_cache(maxsize=1 << 14)
def _valid_in_some_region(candidate: str) -> bool:
    """True when `candidate` is a valid national number in one of PHONE_REGIONS."""
    for region in PHONE_REGIONS:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False
