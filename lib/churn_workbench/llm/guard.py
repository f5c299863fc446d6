"""Model output is untrusted input: every text a model writes is checked before it is stored.

A reply can validate against its schema and still carry harm: a summary with an invented name,
a phone number or a URL (also spelled out: "evil dot example dot com slash claim", "jo at gmail"),
an offer the catalogue never made ("free for life", "one hundred percent off"), an injected
instruction, or another customer's text from the same request. `text_violations` names the rules
a text breaks (never the text); a caller that gets any stores the catalogue/offline result
instead and audits the reasons once per item.

PII is found by the anonymizer's own finder (`anonymize.residual_pii`, the egress gate): one
definition of PII for what leaves and for what comes back.
"""
from __future__ import annotations

import re
import unicodedata

from ..anonymize import PLACEHOLDER_RE, residual_pii, strip_invisible

_NUMBER_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                 "seven": "7", "eight": "8", "nine": "9"}
_SPELLED_DOT = re.compile(r"\s*[\(\[\{<]\s*(?:dot|period|punkt)\s*[\)\]\}>]\s*|\s+(?:dot|period|punkt)\s+", re.I)
_SPELLED_AT = re.compile(r"\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*", re.I)
_SPELLED_SLASH = re.compile(r"\s+(?:forward\s+)?slash\s+|\s*[\(\[]\s*slash\s*[\)\]]\s*", re.I)
_SPELLED_COLON = re.compile(r"\s+colon\s+", re.I)

_URL = re.compile(r"(?i)\b(?:https?|ftp)\s*:\s*/\s*/|\bwww\s*\.|"
                  r"\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:[a-z]{2,24})(?:/\S*)?(?=$|[\s,;:!?)\]'\"])")
_FILE_LIKE = re.compile(r"(?i)\.(?:txt|pdf|csv|json|xlsx?|docx?|png|jpe?g)$")
_EMAIL = re.compile(r"(?i)[\w.+-]+\s*@\s*[\w-]+(?:\.[\w-]+)*|\b[\w.+-]+\s+at\s+[a-z0-9-]+\.[a-z]{2,}\b|"
                    r"\bat\s+(?:gmail|googlemail|yahoo|hotmail|outlook|icloud|proton(?:mail)?|aol|gmx|live|msn)\b")
_PHONE = re.compile(r"\+?\d(?:[\s().-]{0,3}\d){6,}")
_PERCENT_WORDS = r"(?:one hundred|hundred|ninety|eighty|seventy|sixty|fifty|forty|thirty|twenty|fifteen|ten|five)"
_OFFER_TERMS = re.compile(
    r"(?i)\b\d{1,3}(?:[.,]\d+)?\s*(?:%|percent\b|per\s*cent\b)|\b" + _PERCENT_WORDS + r"[\s-]*(?:%|percent|per\s*cent)\b|"
    r"\bfree\s+(?:for\s+(?:life|ever|good|a\s+year|\w+\s+(?:months?|years?))|forever|of\s+charge)\b|\bfor\s+free\b|"
    r"\b(?:for\s+life|forever|lifetime|life-long|lifelong)\b|\bno\s+(?:charge|cost)\s+(?:for|ever)\b|"
    r"\b(?:\d+|one|two|three|four|five|six|twelve|eighteen|twenty-four)\s+(?:months?|years?)\b|"
    r"\bfree\s+(?:iphone|phone|handset|device|gift|upgrade|months?|year|service|data|plan|line)\b")
_INJECTION = re.compile(
    r"(?i)\bignore\b.{0,30}\b(?:instructions?|rules?|polic(?:y|ies)|prompts?|above|previous)\b|"
    r"\bdisregard\b.{0,30}\b(?:instructions?|rules?|polic(?:y|ies)|above|previous)\b|"
    r"\b(?:system|developer)\s+(?:prompt|message|mode)\b|\byou\s+are\s+now\b|\bnew\s+instructions?\b|"
    r"\bjailbreak|\bprompt\s+injection\b|\boverride\b|\bas\s+an\s+ai\b|<\|?(?:im_start|im_end|system|assistant)|"
    r"\b(?:assistant|system)\s*:|\bbypass\b.{0,20}\b(?:polic|filter|rule)|\benter\s+your\s+(?:card|password|pin)\b")
_MARKUP = re.compile(r"<[^>]{0,200}>|\[[^\]]*\]\([^)]*\)|\*\*|__|`|^\s{0,3}#|&[a-z]+;|\{[^}]*\}|"
                     r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", re.MULTILINE)
_WORD = re.compile(r"[a-z0-9]+")
SHINGLE = 5   # consecutive words that count as "another item's text"


def unspell(text: str) -> str:
    """Undo the usual spellings-out of addresses and numbers, so the detectors see through them."""
    t = _SPELLED_DOT.sub(".", text)
    t = _SPELLED_AT.sub("@", t)
    t = _SPELLED_SLASH.sub("/", t)
    t = _SPELLED_COLON.sub(":", t)
    return re.sub(r"(?i)\b(" + "|".join(_NUMBER_WORDS) + r")\b", lambda m: _NUMBER_WORDS[m.group(1).lower()], t)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).lower())
    return {tuple(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def text_violations(text, *, own_input: str = "", other_inputs: tuple[str, ...] | list[str] = (),
                    allowed_terms: str | None = None, max_chars: int | None = None) -> list[str]:
    """The rules `text` (model-written) breaks; empty = it may be stored.

    own_input: what this item sent (its own words may be echoed); other_inputs: the other items
    of the same request (their words may not); allowed_terms: the catalogue wording whose
    percentages and durations are allowed (None: no offer terms at all).
    """
    if not isinstance(text, str) or not text.strip():
        return ["empty"]
    broken: list[str] = []
    if max_chars is not None and len(text) > max_chars:
        broken.append("too_long")
    if strip_invisible(text) != unicodedata.normalize("NFKC", text):
        broken.append("invisible_chars")
    clean = strip_invisible(text)
    if PLACEHOLDER_RE.search(clean):
        broken.append("placeholder")
    plain = unspell(clean)
    if any(not _FILE_LIKE.search(m.group(0)) for m in _URL.finditer(plain)):
        broken.append("url")
    if _EMAIL.search(plain):
        broken.append("email")
    if _PHONE.search(plain):
        broken.append("phone")
    terms = {m.group(0).lower() for m in _OFFER_TERMS.finditer(plain)}
    if terms:
        allowed = {m.group(0).lower() for m in _OFFER_TERMS.finditer(unspell(allowed_terms))} if allowed_terms else set()
        if terms - allowed:
            broken.append("offer_terms")
    if _INJECTION.search(plain):
        broken.append("injection")
    if _MARKUP.search(clean):
        broken.append("markup")
    if residual_pii(clean) or (plain != clean and residual_pii(plain)):
        broken.append("pii")
    if other_inputs:
        mine = _shingles(own_input)
        theirs = set().union(*(_shingles(t) for t in other_inputs)) - mine
        if _shingles(clean) & theirs:
            broken.append("cross_item")
    return sorted(set(broken))
