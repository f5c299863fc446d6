"""Special categories of personal data (GDPR Art. 9 and 10) by a per-language lexicon.

The terms live in data/special_categories.toml (health, religion, sexual orientation,
ethnicity, political opinion, trade-union membership, biometrics, criminal records). They are
masked as typed placeholders (<HEALTH_1>, ...) whatever their frequency, unless the setting
`egress_special_allowed` names the category. Words are matched casefolded and accent-stripped,
"stem*" entries by prefix, entries with blanks as phrases of consecutive words; in Chinese,
Japanese and Thai (no blanks, segmentation may differ) entries are found inside the text.
A text is checked against one lexicon combining every language written in its scripts.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import regex

from ..pii.lexicon import fold

CATEGORIES = ("health", "religion", "sexual_orientation", "ethnicity", "political_opinion", "trade_union",
              "biometric", "criminal")
LABELS = {c: c.upper() for c in CATEGORIES}  # placeholder label per category: <HEALTH_1>, ...
SUBSTRING_LANGUAGES = frozenset({"zh", "ja", "th"})


@dataclass(frozen=True)
class Lexicon:
    words: dict[str, str]                        # folded word -> category
    prefixes: dict[str, str]                     # folded stem -> category
    prefix_lengths: tuple[int, ...]              # distinct stem lengths, longest first
    phrases: dict[tuple[str, ...], str]          # folded word tuple -> category
    phrase_stems: dict[tuple[str, ...], tuple[tuple[str, str], ...]]  # all words but the last -> (stem, category)
    phrase_starts: frozenset[str]                # first words of phrases: only they start one
    phrase_pairs: frozenset[tuple[str, str]]     # the first two words of every phrase
    pair_stems: dict[str, tuple[str, ...]]       # first word -> stems a two-word phrase ends with
    max_phrase: int
    substrings: regex.Pattern | None = None      # zh/ja/th: any entry inside the text
    substring_category: dict | None = None
    seen: dict = field(default_factory=dict)     # word -> category or None, as looked up


@lru_cache(maxsize=1)
def _raw() -> dict:
    text = resources.files("churn_workbench").joinpath("data", "special_categories.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _build(words, prefixes, phrases, stems, pattern=None, substrings=None) -> Lexicon:
    longest = max([len(p) for p in phrases] + [len(p) + 1 for p in stems], default=1)
    starts = frozenset(p[0] for p in phrases) | frozenset(p[0] for p in stems)
    pairs = frozenset(p[:2] for p in phrases) | frozenset(p[:2] for p in stems if len(p) >= 2)
    pair_stems: dict[str, list[str]] = {}
    for first, v in stems.items():
        if len(first) == 1:
            pair_stems.setdefault(first[0], []).extend(stem for stem, _ in v)
    return Lexicon(words, prefixes, tuple(sorted({len(p) for p in prefixes}, reverse=True)), phrases,
                   {k: tuple(v) for k, v in stems.items()}, starts, pairs,
                   {k: tuple(v) for k, v in pair_stems.items()}, longest, pattern, substrings)


def starts_phrase(keys: list[str], i: int, lex: Lexicon) -> bool:
    """True when keys[i], keys[i + 1] are the first two words of some phrase."""
    if i + 1 >= len(keys) or keys[i] not in lex.phrase_starts:
        return False
    nxt = keys[i + 1]
    return (keys[i], nxt) in lex.phrase_pairs or any(nxt.startswith(s) for s in lex.pair_stems.get(keys[i], ()))


@lru_cache(maxsize=64)
def lexicon(lang: str) -> Lexicon:
    """The special-category terms of one language."""
    words: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    phrases: dict[tuple[str, ...], str] = {}
    stems: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    substrings: dict[str, str] = {}
    for category, per_language in _raw().items():
        for entry in per_language.get(lang, ()):
            if lang in SUBSTRING_LANGUAGES:
                substrings[entry.casefold()] = category
                continue
            parts = tuple(fold(p) for p in regex.findall(r"[\p{L}\p{M}\d'’*]+", entry))
            if len(parts) > 1 and parts[-1].endswith("*"):
                stems.setdefault(parts[:-1], []).append((parts[-1][:-1], category))
            elif len(parts) > 1:
                phrases.setdefault(parts, category)
            elif parts and parts[0].endswith("*"):
                prefixes.setdefault(parts[0][:-1], category)
            elif parts:
                words.setdefault(parts[0], category)
    pattern = None
    if substrings:
        pattern = regex.compile("|".join(regex.escape(s) for s in sorted(substrings, key=len, reverse=True)),
                                regex.IGNORECASE)
    return _build(words, prefixes, phrases, stems, pattern, substrings)


@lru_cache(maxsize=256)
def combined(langs: tuple[str, ...]) -> Lexicon:
    """One lexicon with the terms of all `langs` (the first language's category wins a clash)."""
    words: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    phrases: dict[tuple[str, ...], str] = {}
    stems: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for lang in langs:
        lex = lexicon(lang)
        for k, v in lex.words.items():
            words.setdefault(k, v)
        for k, v in lex.prefixes.items():
            prefixes.setdefault(k, v)
        for k, v in lex.phrases.items():
            phrases.setdefault(k, v)
        for k, v in lex.phrase_stems.items():
            stems.setdefault(k, []).extend(v)
    return _build(words, prefixes, phrases, stems)


def word_category(key: str, lex: Lexicon) -> str | None:
    """The category of one folded word, or None (remembered per lexicon: words repeat)."""
    seen = lex.seen
    if key in seen:
        return seen[key]
    hit = lex.words.get(key)
    if not hit:
        n = len(key)
        for length in lex.prefix_lengths:
            if length <= n:
                hit = lex.prefixes.get(key[:length])
                if hit:
                    break
    if len(seen) > 200_000:
        seen.clear()
    seen[key] = hit
    return hit


def category_spans(keys: list[str], lex: Lexicon) -> dict[int, tuple[int, str]]:
    """Special-category matches over a sequence of folded words ("" for a non-word):
    {first index: (end index, category)}; phrases first, longest first."""
    out: dict[int, tuple[int, str]] = {}
    seen = lex.seen
    cats = [seen[k] if k in seen else word_category(k, lex) for k in keys]
    if not any(cats) and lex.phrase_starts.isdisjoint(keys):
        return out  # the common case, decided at C speed
    i = 0
    n = len(keys)
    while i < n:
        key = keys[i]
        if not key:
            i += 1
            continue
        hit = None
        if key in lex.phrase_starts and starts_phrase(keys, i, lex):
            for length in range(min(lex.max_phrase, n - i), 1, -1):
                category = lex.phrases.get(tuple(keys[i:i + length]))
                if category is None:
                    last = keys[i + length - 1]
                    category = next((c for stem, c in lex.phrase_stems.get(tuple(keys[i:i + length - 1]), ())
                                     if last.startswith(stem)), None)
                if category:
                    hit = (i + length, category)
                    break
        if hit is None and cats[i]:
            hit = (i + 1, cats[i])
        if hit:
            out[i] = hit
            i = hit[0]
        else:
            i += 1
    return out


def substring_spans(text: str, lex: Lexicon) -> list[tuple[int, int, str]]:
    """(start, end, category) of entries found inside `text` (zh, ja, th)."""
    if lex.substrings is None:
        return []
    return [(m.start(), m.end(), lex.substring_category[m.group().casefold()]) for m in lex.substrings.finditer(text)]
