"""Find a customer's own identifiers (name, e-mail, phone, other ids) in a text.

These are exact matches and always win over detection, so they must be cheap for a million
different customers: nothing here compiles a per-customer regex. Names are compared word by
word against the text's words, phones digit by digit against the text's digit runs, e-mails
and ids with str.find on the lower-cased text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from churn_workbench.pii import variants
from churn_workbench.pii.lexicon import PARTICLES, STOPWORDS, WORD_RE, fold, load_lexicon
from churn_workbench.pii.types import Finding, KnownIdentifiers
from churn_workbench.pii.words import words_of

KNOWN_SCORE = 1.0
# Digits written with phone punctuation in between; a leading + or ( belongs to the number.
_DIGIT_RUN_RE = re.compile(r"[+(]?\d(?:[ \t().\-/]{0,3}\d)*")
_NAME_JOIN_RE = re.compile(r"[ \t\-]+|,[ \t]*")  # what may separate two parts ("SCHMIDT, Anna")
_MIN_PHONE_DIGITS = 6
_MAX_PREFIX_DIGITS = 6  # international prefix "00" + country code (<= 3) + trunk prefix (1)


@dataclass(slots=True)  # built once per customer: a plain slotted init is several times cheaper than frozen
class KnownMatcher:
    """Precomputed lookup data for one KnownIdentifiers (build with `known_matcher`)."""

    name_parts: frozenset[str]  # folded parts that match in any case
    capitalised_parts: frozenset[str]  # function words: match "Will", not "will"
    email: str | None
    phone: str | None  # national digits, without country code or trunk prefix
    extras: tuple[str, ...]
    all_parts: frozenset[str] = frozenset()  # name_parts | capitalised_parts
    # (squeezed key, value as stored, entity, grow to the whole token): ids, the e-mail's local
    # part, joined names
    squeezed_keys: tuple[tuple[str, str, str, bool], ...] = ()
    long_parts: tuple[str, ...] = ()  # name parts of >= 5 letters: one-edit misspellings match
    long_part_lengths: frozenset[int] = frozenset()  # lengths a misspelling of them can have
    long_part_heads: frozenset[str] = frozenset()  # their first two letters
    long_part_tails: frozenset[str] = frozenset()  # their last two letters
    initials: tuple[str, ...] = ()  # ("as",) for Anna Schmidt; ("jd", "jw") for Jane Doe-Whitfield
    name_particles: frozenset[str] = frozenset()  # particles of the name ("van", "den")

    def find(self, text: str) -> list[Finding]:
        """All known-identifier findings in `text` (may overlap; the caller resolves)."""
        found = self._names(text) if (self.name_parts or self.capitalised_parts) else []
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters change length when lower-cased
            lowered = "".join(ch.lower()[:1] or ch for ch in text)
        if self.email:
            found += _literal(text, lowered, self.email, "EMAIL")
        for extra in self.extras:
            found += _literal(text, lowered, extra, "CUSTOMER_ID")
        if self.phone and _has_digits(text, len(self.phone)):
            found += _phones(text, self.phone)
        if self.squeezed_keys:
            squeezed = variants.squeeze(lowered)
            for key, raw, entity, whole in self.squeezed_keys:
                if key not in squeezed:
                    continue
                exact_elsewhere = not whole or (entity == "PERSON" and " " in raw)
                if exact_elsewhere and squeezed.count(key) == lowered.count(raw):
                    continue  # written as stored: the exact matchers above have them all
                found += [Finding(entity, s, e, KNOWN_SCORE, "known")
                          for s, e in variants.squeezed_spans(text, lowered, squeezed, key, raw, whole)]
        if self.long_parts:
            found += self._misspelt(text)
        if self.initials and "." in text:
            found += [Finding("PERSON", s, e, KNOWN_SCORE, "known")
                      for s, e in variants.initials_spans(text, self.initials)]
        return found

    def _misspelt(self, text: str) -> list[Finding]:
        """Words one edit away from a long name part. The text's distinct words are compared
        first (C-level findall and set operations); positions are looked up only on a hit."""
        lengths, heads, tails = self.long_part_lengths, self.long_part_heads, self.long_part_tails
        hits = set()
        for w in words_of(text) - self.all_parts:  # shared with the detectors' gates
            if len(w) not in lengths:
                continue
            key = w if w.isascii() else fold(w)
            # One edit leaves the first two or the last two letters in place: a cheap sieve.
            if (key[:2] in heads or key[-2:] in tails) and any(
                variants.within_one_edit(key, p) for p in self.long_parts
            ):
                hits.add(w)
        if not hits:
            return []
        return [Finding("PERSON", m.start(), m.end(), KNOWN_SCORE, "known")
                for m in WORD_RE.finditer(text) if m.group().lower() in hits]

    def _names(self, text: str) -> list[Finding]:
        """Spans of the name's parts; parts next to each other (blanks, hyphens or particles
        in between) merge into one span: "Maria van der Berg" is one finding."""
        if text.isascii():
            lowered = text.lower()
            if not any(p in lowered for p in self.all_parts):
                return []  # cheap exit for the usual text that never mentions the name
        spans: list[list[int]] = []
        prev_end: int | None = None
        open_span = False  # does the previous word (or particle chain) continue a name span?
        # Start of a chain of the name's own particles right before this word: the surname
        # written first keeps them ("VAN DEN BERG, Tessa"), only particles the name has.
        particles_start: int | None = None
        parts, name_particles = self.all_parts, self.name_particles
        for m in WORD_RE.finditer(text):
            word = m.group()
            key = word.lower() if word.isascii() else fold(word)  # fold() of ASCII is lower()
            # Only a part (or a hyphenated word of parts) can open or extend a span; the gap
            # to the previous word matters only while a span or a particle chain is open.
            if (key in parts or "-" in key) and self._is_part(word, key, text, m.start(), m.end()):
                if open_span and _NAME_JOIN_RE.fullmatch(text, prev_end, m.start()) is not None:
                    spans[-1][1] = m.end()
                elif particles_start is not None and _NAME_JOIN_RE.fullmatch(text, prev_end, m.start()) is not None:
                    spans.append([particles_start, m.end()])
                else:
                    spans.append([m.start(), m.end()])
                open_span = True
                particles_start = None
            else:
                open_span = open_span and key in PARTICLES and _NAME_JOIN_RE.fullmatch(text, prev_end, m.start()) is not None
                if name_particles and not open_span and key in name_particles:
                    chained = particles_start is not None and _NAME_JOIN_RE.fullmatch(text, prev_end, m.start()) is not None
                    particles_start = particles_start if chained else m.start()
                else:
                    particles_start = None
            prev_end = m.end()
        if self.initials:
            spans = [[variants.with_initial_before(text, s, self.initials[0]), e] for s, e in spans]
        return [Finding("PERSON", s, e, KNOWN_SCORE, "known") for s, e in spans]

    def _is_part(self, word: str, key: str, text: str, start: int, end: int) -> bool:
        """True when this word of the text is one of the customer's name parts."""
        if _touches_word_char(text, start, end):
            return False
        if key in self.name_parts:
            return True
        if key in self.capitalised_parts:
            return word[0].isupper()
        if "-" in key:  # "Anna-Lena" in the text, "Anna Lena" in the customers table
            return all(p in self.name_parts or p in self.capitalised_parts for p in key.split("-"))
        return False


def _touches_word_char(text: str, start: int, end: int) -> bool:
    """Word-boundedness: the span neither follows nor precedes a letter, digit or '_'."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before.isalnum() or before == "_" or after.isalnum() or after == "_"


def _literal(text: str, lowered: str, value: str, entity: str) -> list[Finding]:
    """Case-insensitive, word-bounded occurrences of a lower-cased literal `value`."""
    out = []
    start = lowered.find(value)
    while start != -1:
        end = start + len(value)
        edge_ok = (not value[0].isalnum() or start == 0 or not _is_word(text[start - 1])) and (
            not value[-1].isalnum() or end == len(text) or not _is_word(text[end])
        )
        if edge_ok:
            out.append(Finding(entity, start, end, KNOWN_SCORE, "known"))
        start = lowered.find(value, start + 1)
    return out


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


_NOT_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}


def _has_digits(text: str, n: int) -> bool:
    """At least `n` digits in `text` (fewer cannot hold a phone number of n digits)."""
    if text.isascii():
        return len(text.translate(_NOT_DIGITS)) >= n
    return sum(ch.isdigit() for ch in text) >= n


def _phones(text: str, national: str) -> list[Finding]:
    """Occurrences of the phone's national digits in any digit run of the text.

    Up to 6 digits written just before them in the same run are a country code and/or trunk
    prefix ("+44 (0)20 ...", "0044 20 ...", "020 ...") and join the span; a leading + or (
    too. Knowing the exact country code is not needed, which keeps this free of parsing."""
    out = []
    ascii_text = text.isascii()
    for m in _DIGIT_RUN_RE.finditer(text):
        if ascii_text and national not in m.group().translate(_NOT_DIGITS):
            continue  # the run's digits do not hold the number: no positions needed
        positions = [m.start() + i for i, ch in enumerate(m.group()) if ch.isdigit()]
        digits = "".join(text[p] for p in positions)
        k = digits.find(national)
        while k != -1:
            first = 0 if k <= _MAX_PREFIX_DIGITS else k
            start = positions[first]
            if start > 0 and text[start - 1] in "+(":
                start -= 1
            end = positions[k + len(national) - 1] + 1
            out.append(Finding("PHONE", start, end, KNOWN_SCORE, "known"))
            k = digits.find(national, k + len(national))
    return out


def national_digits(raw: str) -> str | None:
    """The national part of a phone number from the customers table, as digits.

    "+44 20 7946 0958", "0044 (0)20 7946 0958" and "020 7946 0958" all give "2079460958":
    international prefix and country code (looked up in phonenumbers' table), then trunk
    zeros, are dropped; an 11-digit North American "1 212 ..." loses its 1. Returns None
    when fewer than 6 digits remain (too short to match safely)."""
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or digits.startswith("00"):
        digits = digits.lstrip("0") if not text.startswith("+") else digits
        for length in (1, 2, 3):
            if int(digits[:length] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                digits = digits[length:]
                break
    elif len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    national = digits.lstrip("0")
    return national if len(national) >= _MIN_PHONE_DIGITS else None


def known_matcher(known: KnownIdentifiers) -> KnownMatcher:
    """The matcher for one customer's identifiers (cached; a KnownIdentifiers built with a
    list in `extra` is unhashable and simply not cached)."""
    try:
        return _cached_matcher(known)
    except TypeError:
        return _build_matcher(known)


@lru_cache(maxsize=4096)
def _cached_matcher(known: KnownIdentifiers) -> KnownMatcher:
    return _build_matcher(known)


def _build_matcher(known: KnownIdentifiers) -> KnownMatcher:
    """Precompute lookups. Values that are not non-blank strings (None, a pandas NaN) are
    ignored, so a missing column value never matches anything. Built once per customer, a
    million times in a large run: the name is tokenised and folded once for every use."""
    name, email, phone = _text(known.name), _text(known.email), _text(known.phone)
    parts, capitalised, name_keys, initials, name_particles = _name_facts(name)
    extras = _extras(known.extra)
    pieces = _local_part_pieces(email)
    if pieces:
        parts = parts | pieces
    long_parts = tuple(sorted(p for p in parts if len(p) >= 5 and p.isalpha()))
    keys = _id_keys(email, extras)
    for key, raw in name_keys:
        if key not in keys:
            keys[key] = (key, raw, "PERSON", True)
    return KnownMatcher(
        name_parts=parts,
        capitalised_parts=capitalised,
        all_parts=parts | capitalised,
        email=email.lower() if email else None,
        phone=national_digits(phone) if phone else None,
        extras=extras,
        squeezed_keys=tuple(keys.values()),
        long_parts=long_parts,
        long_part_lengths=frozenset(n for p in long_parts for n in (len(p) - 1, len(p), len(p) + 1)),
        long_part_heads=frozenset(p[:2] for p in long_parts),
        long_part_tails=frozenset(p[-2:] for p in long_parts),
        initials=initials,
        name_particles=name_particles,
    )


@lru_cache(maxsize=1 << 15)
def _name_facts(name: str | None) -> tuple:
    """What the matcher needs of a name alone: (parts, capitalised parts, joined-name keys
    as (squeezed, as written), initials, the name's particles). Kept per name: many
    customers share one ("Maria Garcia"), and the name costs most of a matcher's build."""
    words = [fold(w) for w in WORD_RE.findall(name)] if name else []
    core = [w for w in words if w not in PARTICLES]  # first and last name, particles skipped
    parts, capitalised = _name_parts(words)
    keys: dict[str, str] = {}
    for key, raw in _name_joins(core, words):
        if len(key) >= 6 and key not in keys:
            keys[key] = raw
    return (parts, capitalised, tuple(keys.items()), _initials(core),
            PARTICLES.intersection(words) if len(core) < len(words) else frozenset())


def _extras(values) -> tuple[str, ...]:
    """Other identifiers (customer id, ...), lower-cased, de-duplicated, 3+ characters."""
    out: list[str] = []
    for v in values or ():
        x = _text(v if isinstance(v, str) else str(v))
        if x and len(x) >= 3:
            x = x.lower()
            if x not in out:
                out.append(x)
    return tuple(out)


def _id_keys(email: str | None, extras: tuple[str, ...]) -> dict[str, tuple[str, str, str, bool]]:
    """Keys matched against the squeezed text, first part: every id and the e-mail local part
    (any separators), the whole e-mail (letter-spaced); the name's joined forms follow
    (_name_joins), in that order."""
    keys: dict[str, tuple[str, str, str, bool]] = {}
    for extra in extras:
        key = variants.squeeze(extra)
        if len(key) >= 3:
            keys[key] = (key, extra, "CUSTOMER_ID", False)
    if email and "@" in email:
        lowered = email.lower()
        raw_local = lowered.split("@")[0]
        local = variants.squeeze(raw_local)
        if len(local) >= 4:
            keys[local] = (local, raw_local, "EMAIL", True)
        whole = variants.squeeze(lowered)
        keys[whole] = (whole, lowered, "EMAIL", True)
    return keys


def _name_joins(core: list[str], words: list[str] = ()) -> list[tuple[str, str]]:
    """(squeezed, as written) of the name joined both ways, and of a surname with particles."""
    if len(core) < 2:
        return []
    first, last = core[0], core[-1]
    # (joined, as written with blanks): texts that only hold the blank form ("Anna
    # Schmidt") are the name matcher's, and skip the position mapping.
    joins = [(first + last, f"{first} {last}"), ("".join(core), " ".join(core)), (last + first, last + first)]
    # A surname with particles is also written joined, alone or after the first name:
    # "vandenberg", "TessavandenBerg", "Tessa vandenBerg" (`words`: with the particles).
    first_particle = 0
    if len(words) > len(core):  # the name has particles
        first_particle = next((i for i, w in enumerate(words) if i and w in PARTICLES), 0)
    if first_particle:
        surname = words[first_particle:]
        joins += [("".join(surname), " ".join(surname)), (first + "".join(surname), first + " " + " ".join(surname)),
                  ("".join(surname) + first, "".join(surname) + first)]
    if "-" in last:
        joins += [(first + p, first + p) for p in last.split("-")] + [(p + first, p + first) for p in last.split("-")]
    return [(variants.squeeze(joined), raw) for joined, raw in joins]


def _local_part_pieces(email: str | None) -> frozenset[str]:
    """Pieces of the e-mail's local part that can name the customer on their own ("jane" and
    "doe" of "jane.doe87"): 3+ letters, not a function word or an everyday English word."""
    if not email or "@" not in email:
        return frozenset()
    common = load_lexicon().common
    pieces = re.split(r"[^a-z]+", fold(email.split("@")[0]))
    return frozenset(p for p in pieces if len(p) >= 3 and p not in STOPWORDS and p not in common)


def _initials(core: list[str]) -> tuple[str, ...]:
    """("as",) for "Anna Schmidt" (`core`: folded words, particles skipped): first and last
    word; each part of a hyphenated surname counts ("Jane Doe-Whitfield": "jd" and "jw")."""
    if len(core) < 2:
        return ()
    return tuple(dict.fromkeys(core[0][0] + part[0] for part in core[-1].split("-") if part))


def _text(value: object) -> str | None:
    """A stripped non-empty string, or None."""
    return (value.strip() or None) if isinstance(value, str) else None


def _name_parts(words: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Folded name parts (`words`: the name's folded words; parts of >= 2 letters, particles
    such as "van" excluded), split into those that match in any case and function words
    ("will", "may", "an") that match only when capitalised, so a customer called Will does
    not turn every "I will" into a placeholder."""
    keys: set[str] = set()
    for key in words:
        keys.add(key)
        if "-" in key:
            keys.update(key.split("-"))
    keys = {k for k in keys if len(k) >= 2 and k not in PARTICLES}
    function_words = keys & STOPWORDS
    return frozenset(keys - function_words), frozenset(function_words)
