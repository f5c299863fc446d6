"""Special categories of personal data (GDPR Art. 9 and 10) by a per-language lexicon.

The terms live in data/special_categories.toml (health, religion, sexual orientation,
ethnicity, political opinion, trade-union membership, biometrics, criminal records). They are
masked as typed placeholders (<HEALTH_1>, ...) whatever their frequency, unless the setting
`egress_special_allowed` names the category. Words are matched casefolded and accent-stripped,
"stem*" entries by prefix, entries with blanks as phrases of consecutive words; in Chinese,
Japanese and Thai (no blanks, segmentation may differ) entries are found inside the text.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
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
    prefixes: tuple[tuple[str, str], ...]        # (folded stem, category)
    phrases: dict[tuple[str, ...], str]          # folded word tuple -> category
    phrase_stems: dict[tuple[str, ...], tuple[tuple[str, str], ...]]  # all words but the last -> (stem, category)
    substrings: regex.Pattern | None             # zh/ja/th: any entry inside the text
    substring_category: dict[str, str]
    max_phrase: int


@lru_cache(maxsize=1)
def _raw() -> dict:
    text = resources.files("churn_workbench").joinpath("data", "special_categories.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=64)
def lexicon(lang: str) -> Lexicon:
    """The special-category terms of one language."""
    words: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    phrases: dict[tuple[str, ...], str] = {}
    substrings: dict[str, str] = {}
    stems: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for category, per_language in _raw().items():
        for entry in per_language.get(lang, ()):
            if lang in SUBSTRING_LANGUAGES:
                substrings[entry.casefold()] = category
                continue
            parts = tuple(fold(p) for p in regex.findall(r"[\p{L}\p{M}\d'’*]+", entry))
            if len(parts) > 1 and parts[-1].endswith("*"):
                stems.setdefault(parts[:-1], []).append((parts[-1][:-1], category))
            elif len(parts) > 1:
                phrases[parts] = category
            elif parts and parts[0].endswith("*"):
                prefixes.append((parts[0][:-1], category))
            elif parts:
                words[parts[0]] = category
    pattern = None
    if substrings:
        pattern = regex.compile("|".join(regex.escape(s) for s in sorted(substrings, key=len, reverse=True)),
                                regex.IGNORECASE)
    longest = max([len(p) for p in phrases] + [len(p) + 1 for p in stems], default=1)
    return Lexicon(words, tuple(sorted(prefixes, key=lambda p: -len(p[0]))), phrases,
                   {k: tuple(v) for k, v in stems.items()}, pattern, substrings, longest)


def word_category(key: str, lex: Lexicon) -> str | None:
    """The category of one folded word, or None."""
    hit = lex.words.get(key)
    if hit:
        return hit
    for stem, category in lex.prefixes:
        if key.startswith(stem):
            return category
    return None


def category_spans(keys: list[str], lexicons: tuple[Lexicon, ...]) -> dict[int, tuple[int, str]]:
    """Special-category matches over a sequence of folded words: {first index: (end index,
    category)}; phrases first, longest first."""
    out: dict[int, tuple[int, str]] = {}
    i = 0
    n = len(keys)
    while i < n:
        hit = None
        for lex in lexicons:
            for length in range(min(lex.max_phrase, n - i), 1, -1):
                category = lex.phrases.get(tuple(keys[i:i + length]))
                if category is None:
                    last = keys[i + length - 1]
                    category = next((c for stem, c in lex.phrase_stems.get(tuple(keys[i:i + length - 1]), ())
                                     if last.startswith(stem)), None)
                if category:
                    hit = (i + length, category)
                    break
            if hit:
                break
        if hit is None:
            for lex in lexicons:
                category = word_category(keys[i], lex)
                if category:
                    hit = (i + 1, category)
                    break
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
