"""Which share of a text the allow rule can vet: a text mainly in a language it cannot stays home.

The allow rule (allow.py) knows a word is safe only by a frequency list of the word's language.
For a language without one (Swahili, Yoruba, Basque, Welsh, Georgian, Amharic, Khmer, ...) it
masks most words -- what would leave is placeholders, useless to the model -- and lets out the
words that happen to be common in a listed language it mistook the text for, names among them.
Such a text cannot honestly be called safe, so it is not sent at all: the offline analyzer reads
it at home (llm/agent.py).

`vetting(text)` measures, per text, the share of its word tokens the rule can vet: a word can
be vetted when its script has a frequency list and the language of the stretch it stands in is
one of that script's listed languages. The language of a stretch (a sentence's words of one
script) comes from a language identifier (py3langid, 140+ languages), read only when the text is
not plainly English and only where the identifier is confident; a stretch too short to judge
(fewer than three words) takes the language of all the text's words in its script, and where
even that is too short or the identifier is unsure, the words count as vetted: the per-token
rule still judges each of them. A run of a script written without blanks that no segmenter cuts
(Khmer, Lao, Burmese, Tibetan) counts one word per four letters.

This decision only ever adds "keep home": it never lets out a token the allow rule denies, so
padding a text with English words to pass the threshold buys nothing but the usual masking.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import regex

from ..pii.lazy import build_once
from . import lexicons
from .allow import all_english, generation, rules
from .canonical import canonical
from .tokens import tokens

_MIN_WORDS = 3          # fewer words than this in a stretch say too little about its language
_MIN_CONFIDENCE = 0.5   # the identifier's (normalised) probability needed to call a language unvetted
_COVERED = 0.8          # ... unless this share of its words is common in one listed language
_UNSURE_COVERED = 0.5   # where no language is confident, this share decides
_LETTERS_PER_WORD = 4   # an uncut run of a script written without blanks: one word per this many letters
_UNCUT_SCRIPTS = frozenset({"KHMER", "LAO", "MYANMAR", "TIBETAN"})
# The identifier's codes that the frequency lists spell differently.
_ALIASES = {"no": "nb", "hr": "sh", "bs": "sh", "sr": "sh", "tl": "fil"}
_SENTENCE_RE = regex.compile(r"[^.!?;。！？\n]+")


@dataclass(frozen=True)
class Vetting:
    """share: vetted word tokens / word tokens (1.0 for a text without words). unvetted: the
    language (the identifier's code) or the script without any list that the most unvetted
    words are in, e.g. "sw", "script GEORGIAN", "unidentified (LATIN)"; None when every word
    can be vetted."""

    share: float
    words: float
    unvetted: str | None = None

    def kept_home(self, min_share: float) -> bool:
        """True when less than `min_share` of the text's words can be vetted."""
        return self.words > 0 and self.share < min_share


def supported() -> dict[str, tuple[str, ...]]:
    """Script -> the languages the allow rule can vet in it (lexicons.languages_by_script)."""
    return lexicons.languages_by_script()


def unvetted_language(text: str, min_share: float) -> str | None:
    """The language (or script) that keeps `text` home: less than `min_share` of its words can
    be vetted. None: it may go, token by token. Read on the text as written, before the
    anonymizer turns the words the rule cannot vet into placeholders (which have no language)."""
    v = vetting(text)
    return v.unvetted if v.kept_home(min_share) else None


def vetting(text: str) -> Vetting:
    """The share of `text`'s word tokens the allow rule can vet (see the module's docstring)."""
    return _vetting(canonical(text), generation())


@lru_cache(maxsize=20_000)
def _vetting(view: str, _generation: int) -> Vetting:
    """(The rules' generation is part of the key: a verdict kept from older rules is not reused.)"""
    by_script = supported()
    words = [(off + t.start, t) for off, t in tokens(view) if t.kind == "word"]
    if not words:
        return Vetting(1.0, 0.0)
    if all(t.script == "LATIN" for _, t in words) and all_english([t.key for _, t in words]):
        return Vetting(1.0, float(len(words)))  # most feedback: nothing to identify
    bounds = [m.end() for m in _SENTENCE_RE.finditer(view)]
    stretches: dict[tuple[int, str], list[str]] = {}  # (sentence, listed script) -> its words there
    listed: dict[str, list[str]] = {}                 # listed script -> the text's words in it
    unlisted_weight: dict[str, float] = {}            # script without a list -> the text's words in it
    sentence = 0
    for start, t in words:
        while sentence < len(bounds) - 1 and start >= bounds[sentence]:
            sentence += 1
        script = t.script if t.script != "OTHER" else _script_name(t.text)
        if script in by_script:
            stretches.setdefault((sentence, script), []).append(t.text)
            listed.setdefault(script, []).append(t.text)
        else:
            unlisted_weight[script] = unlisted_weight.get(script, 0.0) + _weight(t.text, script)
    # A script without any list is named as such: no language of it can be vetted, and the
    # identifier guesses wildly at scripts it was not trained on (Inuktitut syllabics: "am").
    unvetted: dict[str, float] = {f"script {script}": weight for script, weight in unlisted_weight.items()}
    whole = {script: _language(seen, script, by_script) for script, seen in listed.items()}
    for (_, script), seen in stretches.items():
        lang = _language(seen, script, by_script) if len(seen) >= _MIN_WORDS else whole[script]
        if lang is not None:
            unvetted[lang] = unvetted.get(lang, 0.0) + len(seen)
    total = sum(len(seen) for seen in listed.values()) + sum(unlisted_weight.values())
    bad = sum(unvetted.values())
    main = max(unvetted, key=unvetted.get) if unvetted else None
    return Vetting((total - bad) / total, float(total), main)


def _language(seen: list[str], script: str, by_script: dict[str, tuple[str, ...]]) -> str | None:
    """The identifier's code for words of a listed script when they are in a language without a
    list in that script; None when they are vetted or too few to tell. The languages with a list
    together most likely: vetted. Another language confidently: unvetted, unless one list knows
    most of the words anyway (a short stretch mistaken). Nobody confident (a language the
    identifier does not know, Hmong; a short Kazakh sentence between kk, ky and tt): the lists
    decide -- vetted when one of them knows at least half of the words, else "unidentified"."""
    if len(seen) < _MIN_WORDS:
        return None
    listed = by_script[script]
    ranked = _identifier().rank(" ".join(seen))
    if sum(p for lang, p in ranked if _ALIASES.get(lang, lang) in listed) >= _MIN_CONFIDENCE:
        return None  # Serbo-Croatian read as sr 0.51, hr 0.31, bs 0.17 is one listed language
    lang, confidence = next((lang, p) for lang, p in ranked if _ALIASES.get(lang, lang) not in listed)
    if confidence >= _MIN_CONFIDENCE and lang != "zxx":  # zxx: "no linguistic content"
        return None if _covered(seen, listed, _COVERED) else lang
    return None if _covered(seen, listed, _UNSURE_COVERED) else f"unidentified ({script})"


def _covered(seen: list[str], langs: tuple[str, ...], share: float) -> bool:
    """At least `share` of the words are common words of one listed language: its list vets the
    stretch, whatever the identifier took it for ("Karte ... wurde doppelt belastet": Frisian).
    One list's share of other languages' words: Swahili 0.3 (Malay's), Basque 0.4 (Turkish's),
    Marathi 0.7 (Hindi's)."""
    r = rules()
    keys = [w.casefold() for w in seen]
    need = share * len(keys)
    return any(sum(k in common for k in keys) >= need
               for common in (lexicons.word_sets(lang, r.min_zipf, r.name_min_zipf).common for lang in langs))


def _weight(text: str, script: str) -> float:
    if script in _UNCUT_SCRIPTS:
        return max(1.0, len(text) / _LETTERS_PER_WORD)
    return 1.0


@lru_cache(maxsize=4096)
def _script_name(word: str) -> str:
    """The Unicode script of a word the rule has no family for ("GEORGIAN", "ETHIOPIC")."""
    for ch in word:
        name = unicodedata.name(ch, "")
        if name and unicodedata.category(ch).startswith("L"):
            return name.split()[0]
    return "OTHER"


@build_once
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
