"""The allow rule: a token leaves the machine only if it is known to be safe.

Known safe is one of:
(a) a common word of its language: Zipf frequency >= `egress_min_zipf` in wordfreq's list of
    the text's language (detected per script) or, for Latin script, of English; a word that is
    also a person's name must be commoner still (`egress_name_min_zipf`) when it is written
    capitalised, or at all in English text, unless it is an English dictionary word ("Grace");
(b) a term of the product's own vocabulary or of the data owner's allow-list (vocabulary.py);
(c) a placeholder (<PERSON_1>, ...);
(d) a number in a harmless form: an amount, a share, a duration, a time of day, a small count
    (numbers.py) -- and not part of a run of numbers: three or more numbers or digit words side
    by side, or two with five or more digits between them, are a number read out ("0791 123
    456", "four eight two one") and do not leave.
Special-category terms (special.py) never count as known safe unless the setting allows their
category. Everything else is unknown: `mask` replaces it with a placeholder (the anonymizer's
last pass), `denied` lists it (the request gate and the output check).

All three read the same canonical form (canonical.py) and the same tokens (tokens.py).
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from ..pii.lexicon import fold
from . import lexicons, special
from .canonical import canonical
from .lexicons import word_sets
from .scripts import dictionary_pieces, simplified
from .tokens import CHUNK_FACTS, PLACEHOLDER_RE, Token, chunk_tokens, forget_chunks, tokens
from .vocabulary import is_vocabulary, on_change

# Common Chinese surnames: a rare 2-3 character word starting with one is taken for a name.
_HAN_SURNAMES = frozenset("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
_GERMAN_NOUN_ZIPF = 3.5  # a capitalised German word this common is taken for a noun, not a name
_NUMBER_RUN = 3          # this many numbers side by side are a number read out
_RUN_DIGITS = 5          # ... or two numbers with this many digits together


@dataclass(frozen=True)
class Rules:
    """The settings the rule reads."""

    min_zipf: float = 3.0
    name_min_zipf: float = 4.5
    special_allowed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Denied:
    """A span of a canonical text that may not leave, with the placeholder label it gets."""

    start: int
    end: int
    label: str


_rules: Rules | None = None
_rules_lock = threading.Lock()


def rules() -> Rules:
    """The rules from the settings (read once per process; `configure` replaces them)."""
    global _rules
    if _rules is None:
        with _rules_lock:
            if _rules is None:
                from ..config import load_settings

                s = load_settings()
                _rules = Rules(float(s.egress_min_zipf), float(s.egress_name_min_zipf),
                               parse_categories(s.egress_special_allowed))
    return _rules


def configure(new: Rules | None) -> None:
    """Use `new` from now on (None: read the settings again on next use)."""
    global _rules
    with _rules_lock:
        _rules = new
        _forget_texts()


def forget_verdicts() -> None:
    """Drop cached verdicts (the vocabulary changed)."""
    _forget_texts()


on_change(forget_verdicts)


def _forget_texts() -> None:
    global _generation
    forget_chunks()
    _MASKED.clear()
    _generation += 1


_generation = 0


def generation() -> int:
    """Changes whenever the rules or the vocabulary do: a result of the rule kept elsewhere
    (the anonymizer's per text) is stale once this differs from when it was kept."""
    return _generation


def parse_categories(value: str | None) -> frozenset[str]:
    """"health, religion" -> the categories; an unknown name is an error."""
    names = {v.strip().lower() for v in (value or "").split(",") if v.strip()}
    unknown = names - set(special.CATEGORIES)
    if unknown:
        from ..errors import UsageError

        raise UsageError(f"WORKBENCH_EGRESS_SPECIAL_ALLOWED: unknown categor{'ies' if len(unknown) > 1 else 'y'} "
                         f"{', '.join(sorted(unknown))}; known: {', '.join(special.CATEGORIES)}")
    return frozenset(names)


# ------------------------------------------------------------------------------ judging


def denied(text: str, *, canonical_form: bool = False) -> list[Denied]:
    """What of `text` may not leave, as spans of canonical(text) (pass canonical_form=True when
    `text` already is canonical)."""
    view = text if canonical_form else canonical(text)
    if not view:
        return []
    r = rules()
    if _plain_english(view, r):
        return []
    return _judge(view, tokens(view), r)


def allowed(text: str) -> bool:
    """True when every token of `text` is known to be safe."""
    return not denied(text)


def mask(text: str) -> tuple[str, Counter]:
    """The anonymizer's last pass: canonical(text) with every unknown token replaced by a
    placeholder (numbered after the placeholders already in the text, the same value keeping
    its number). Returns (masked text, placeholders added per label). The result passes
    `denied` (checked: masking is repeated until nothing is left, at most three times).
    The result is kept per text until the rules or the vocabulary change: after the detectors'
    placeholders, feedback repeats whole texts ("Great service, <PERSON_1> solved it")."""
    hit = _MASKED.get(text)
    if hit is not None:
        return hit[0], Counter(hit[1]) if hit[1] else _NOTHING_ADDED
    masked, added = _mask(text)
    if len(text) <= _KEEP_MAX_CHARS:  # long texts seldom repeat: memory stays bounded
        if len(_MASKED) >= _MASKED_MAX:
            _MASKED.clear()
        _MASKED[text] = (masked, Counter(added) if added else _NOTHING_ADDED)
    return masked, added


# text -> (masked text, placeholders added); emptied with the verdicts (forget_texts too)
_MASKED: dict[str, tuple[str, Counter]] = {}
_MASKED_MAX = 20_000
_KEEP_MAX_CHARS = 500


def forget_texts() -> None:
    """Drop the results kept per text (a benchmark pass that must not reuse another's)."""
    _MASKED.clear()


def _mask(text: str) -> tuple[str, Counter]:
    view = canonical(text)
    added: Counter = _NOTHING_ADDED
    r = rules()
    for _ in range(3):
        spans = [] if not view or _plain_english(view, r) else _judge(view, tokens(view), r)
        if not spans:
            break
        if added is _NOTHING_ADDED:
            added = Counter()
        view = _replace(view, spans, added)
    return view, added


_NOTHING_ADDED: Counter = Counter()  # shared, never written: most texts add nothing


def _replace(view: str, spans: list[Denied], added: Counter) -> str:
    numbers: dict[str, int] = {}
    for m in PLACEHOLDER_RE.finditer(view):
        label, _, n = m.group()[1:-1].rpartition("_")
        numbers[label] = max(numbers.get(label, 0), int(n))
    seen: dict[tuple[str, str], str] = {}
    pieces = []
    pos = 0
    for d in _merge(view, spans):
        key = (d.label, fold(view[d.start:d.end]))
        if key not in seen:
            numbers[d.label] = numbers.get(d.label, 0) + 1
            seen[key] = f"<{d.label}_{numbers[d.label]}>"
            added[d.label] += 1
        pieces += [view[pos:d.start], seen[key]]
        pos = d.end
    pieces.append(view[pos:])
    return "".join(pieces)


def _merge(view: str, spans: list[Denied]) -> list[Denied]:
    """Neighbouring spans of one label with only blanks or joiners between them become one
    ("Okonkwo Adebayo" -> one placeholder, not two)."""
    out: list[Denied] = []
    for d in sorted(spans, key=lambda d: (d.start, -d.end)):
        if out and d.start < out[-1].end:
            last = out[-1]
            out[-1] = Denied(last.start, max(last.end, d.end), last.label)
            continue
        if out and out[-1].label == d.label and view[out[-1].end:d.start].strip(" -'’.") == "":
            out[-1] = Denied(out[-1].start, d.end, d.label)
            continue
        out.append(d)
    return out


def _plain_english(view: str, r: Rules) -> bool:
    """Fast path: an ASCII text whose every chunk, read as English, holds only allowed words,
    placeholders and harmless numbers, no special-category term, no word that starts a phrase
    or spells a dot, at most one bare number -- and an English function word, so English is
    the language the full rule would detect. Nothing in such a text can be denied. Facts are
    kept per chunk: feedback repeats its words."""
    if not view.isascii():
        return False
    facts = CHUNK_FACTS
    english = numerics = phrases = 0
    bodies = view.split()
    for body in bodies:
        fact = facts.get(body)
        if fact is None:
            if len(facts) > 300_000:
                facts.clear()
            fact = facts[body] = _chunk_fact(body, r)
        if fact is None:
            return False
        english |= fact[0]
        numerics += fact[1]
        phrases |= fact[2]
    if not english or numerics > 1:
        return False
    if phrases:  # a word that may start a special-category phrase: is the next one its second?
        lex = _special_lexicon({"LATIN": "en"})
        keys = [t.folded for body in bodies for t in chunk_tokens(body, False)]
        return not any(special.starts_phrase(keys, i, lex) for i, k in enumerate(keys) if k in lex.phrase_starts)
    return True


def _chunk_fact(body: str, r: Rules) -> tuple[int, int, int] | None:
    """(has an English function word, bare numbers, may start a phrase) of a plain chunk;
    None if it is not plain."""
    index = lexicons.top_index().get("LATIN", {})
    lex = _special_lexicon({"LATIN": "en"})
    english = numerics = phrase = 0
    for t in chunk_tokens(body, False):
        if t.kind == "word":
            phrase |= t.folded in lex.phrase_starts
            if (t.script != "LATIN" or t.key in _DOT_WORDS
                    or special.word_category(t.folded, lex) or t.numeric
                    or _verdict(t, t.key, {"LATIN": "en"}, r) is not None):
                return None
            hits = index.get(t.key)
            english |= bool(hits) and hits[0][0] == "en"
        elif t.kind == "number":
            if not t.harmless:
                return None
            numerics += t.numeric
        elif t.kind == "code":
            return None
    return english, numerics, phrase


def _joins(toks: list[tuple[int, Token]], keys: list[str], i: int) -> bool:
    """Token i keeps a run of numbers going: it and at most one more joiner after it stand
    before the next number ("cuarenta y cinco"; Esperanto "kvar sep du ok tri", where "du" and
    "ok" are digits that are also common words elsewhere)."""
    for j in (i, i + 1):
        if j >= len(toks) or keys[j] not in lexicons.RUN_JOINERS:
            return False
        if j + 1 < len(toks) and toks[j + 1][1].numeric:
            return True
    return False


def _judge(view: str, toks: list[tuple[int, Token]], r: Rules) -> list[Denied]:
    if not toks:
        return []
    langs = _languages(toks)
    out: list[Denied] = []
    keys = [t.key for _, t in toks]
    lex = _special_lexicon(langs)
    specials = special.category_spans([t.folded for _, t in toks], lex) if lex else {}
    covered_until = -1
    numeric: list[int] = []  # indices of the current run of numbers / number words
    for i, (off, t) in enumerate(toks):
        if i in specials:
            end, category = specials[i]
            if category not in r.special_allowed:
                out.append(Denied(off + t.start, toks[end - 1][0] + toks[end - 1][1].end, special.LABELS[category]))
                covered_until = end
        if t.numeric:
            numeric.append(i)
        elif not (numeric and _joins(toks, keys, i)):
            _close_run(toks, numeric, out)
            numeric = []
        if i < covered_until:
            continue
        lang = langs.get(t.script)
        label = t.verdicts.get(lang, _MISSING)  # cached on the (cached) token
        if label is _MISSING:
            label = t.verdicts[lang] = _verdict(t, keys[i], langs, r)
        if label:
            out.append(Denied(off + t.start, off + t.end, label))
    _close_run(toks, numeric, out)
    out += _scattered_numbers(toks)
    out += _spelled_addresses(toks, keys)
    for lang in ("zh", "ja", "th"):
        if any(script in langs for script in _SCRIPTS_OF[lang]):
            for s, e, category in special.substring_spans(view, special.lexicon(lang)):
                if category not in r.special_allowed:
                    out.append(Denied(s, e, special.LABELS[category]))
    return out


_SCRIPTS_OF = {"zh": ("HAN",), "ja": ("KANA", "HAN"), "th": ("THAI",)}


# Verdicts are cached on the tokens, per language (tokens are cached per chunk); both are
# dropped when the rules change (configure) or the data owner's words do (set_owner_words).
_MISSING = object()


def _close_run(toks: list[tuple[int, Token]], run: list[int], out: list[Denied]) -> None:
    if not run:
        return
    digits = sum(len(toks[i][1].text) for i in run if toks[i][1].kind == "number")
    if len(run) >= _NUMBER_RUN or (len(run) == 2 and digits >= _RUN_DIGITS):
        # the whole run, joiners included: "cuarenta y cinco" is one number
        first, last = toks[run[0]], toks[run[-1]]
        out.append(Denied(first[0] + first[1].start, last[0] + last[1].end, "NUMBER"))


_SCATTER_WINDOW, _SCATTER_NUMBERS, _SCATTER_DIGITS = 8, 4, 7


def _scattered_numbers(toks: list[tuple[int, Token]]) -> list[Denied]:
    """A number cut into pieces with words between them ("prefix 338, then 123, then 45, then
    67"): four bare numbers within eight tokens holding seven digits or more."""
    bare = [i for i, (_, t) in enumerate(toks) if t.kind == "number" and t.text.isdigit()]
    out: list[Denied] = []
    for k in range(len(bare) - _SCATTER_NUMBERS + 1):
        group = bare[k:k + _SCATTER_NUMBERS]
        if group[-1] - group[0] < _SCATTER_WINDOW and sum(len(toks[i][1].text) for i in group) >= _SCATTER_DIGITS:
            out += [Denied(toks[i][0] + toks[i][1].start, toks[i][0] + toks[i][1].end, "NUMBER") for i in group]
    return out


# An address spelled out with words for "." and "@" ("jan dot kowalski at gmail dot com",
# "ahmet nokta yilmaz et gmail nokta com"). A dot word is needed: "at" alone is everyday English.
_DOT_WORDS = frozenset("dot punkt punto ponto nokta titik chấm tuldok τελεία τελεια крапка точка kropka pont".split())
_AT_WORDS = frozenset("at arroba arobase chiocciola klammeraffe et παπάκι παπακι равлик собака sa małpa malpa kukac".split())


def _spelled_addresses(toks: list[tuple[int, Token]], keys: list[str]) -> list[Denied]:
    """word CONNECTOR word CONNECTOR word ... with two or more connectors, one of them a dot
    word: the whole chain is an address (EMAIL)."""
    out: list[Denied] = []
    n = len(toks)
    i = 1
    while i < n - 1:
        if keys[i] in _DOT_WORDS or keys[i] in _AT_WORDS:
            j = i
            connectors = []
            while j < n - 1 and (keys[j] in _DOT_WORDS or keys[j] in _AT_WORDS) and toks[j + 1][1].kind != "placeholder":
                connectors.append(keys[j])
                j += 2
            if len(connectors) >= 2 and any(c in _DOT_WORDS for c in connectors):
                first, last = toks[i - 1], toks[min(j - 1, n - 1)]
                out.append(Denied(first[0] + first[1].start, last[0] + last[1].end, "EMAIL"))
                i = j
                continue
        i += 1
    return out


def _verdict(t: Token, key: str, langs: dict[str, str | None], r: Rules) -> str | None:
    """The placeholder label of a token that may not leave, None when it may."""
    kind = t.kind
    if kind == "placeholder":
        return None
    if kind == "code":
        return None if is_vocabulary(t.text.casefold()) else t.tag or "ID"  # "network_quality"
    if kind == "number":
        return None if t.harmless else "NUMBER"
    # a word
    if t.tag == "PERSON":
        return "PERSON"
    if t.script == "HAN" and len(t.text) >= 3 and all(ch in lexicons.HAN_NUMERALS for ch in t.text):
        return "NUMBER"
    if t.tag in ("NUMBER", "FUNCTION") or is_vocabulary(key):
        return None
    script = t.script
    lang = langs.get(script)  # Han in Japanese text is tokenised as KANA (tokens.py)
    if lang is None:
        return "WORD"  # a script without a list: nothing in it is known to be safe
    if len(key) == 1 and script in ("LATIN", "CYRILLIC", "GREEK"):
        return None  # a letter: "a", "I", an initial
    sets = word_sets(lang, r.min_zipf, r.name_min_zipf)
    lookup = simplified(key) if lang == "zh" else key
    english = word_sets("en", r.min_zipf, r.name_min_zipf) if script == "LATIN" else None
    if not _common(lookup, sets, english, lang) and not _inflected(lookup, lang, script, r) and not _compound(
            lookup, lang, sets):
        return "WORD"
    return "PERSON" if _rare_name(t, lookup, lang, sets, english, langs.get("LATIN")) else None


# Clitics written together with the word: Hebrew and Arabic-script prepositions, conjunctions
# and articles ("והאינטרנט": and-the-internet), longest first.
_PREFIXES = {
    "he": ("וכש", "ומה", "וה", "וב", "ול", "ומ", "וש", "שה", "בה", "לה", "מה", "כש", "ו", "ה", "ב", "ל", "מ", "ש", "כ"),
    "ar": ("وبال", "وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل", "ك"),
}
_PREFIXES["fa"] = _PREFIXES["ur"] = ("و", "ب", "می")


def _common(key: str, sets, english, lang: str = "") -> bool:
    if key in sets.common or (english is not None and key in english.common):
        return True
    for prefix in _PREFIXES.get(lang, ()):
        if key.startswith(prefix) and len(key) - len(prefix) >= 2 and key[len(prefix):] in sets.common:
            return True
    if "'" in key or "’" in key:
        # "l'homme", "dell'ordine", "can't": each part a word (or a clitic of one or two letters)
        parts = [p for p in key.replace("’", "'").split("'") if p]
        return bool(parts) and all(len(p) <= 2 or p in sets.common or (english is not None and p in english.common)
                                   for p in parts)
    return False


def _compound(key: str, lang: str, sets) -> bool:
    """Chinese: a run of characters jieba's HMM joined into an unknown word is allowed when the
    dictionary cuts it into common words -- unless it starts with a common surname (a name)."""
    if lang != "zh" or len(key) < 2 or key[0] in _HAN_SURNAMES:
        return False
    pieces = dictionary_pieces(key)
    return len(pieces) > 1 and all(p in sets.common for p in pieces)


def _inflected(key: str, lang: str, script: str, r: Rules) -> bool:
    """An inflected form of a common word: its stem is the stem of a common word of the
    language (or of English, for Latin script). Stems of four letters or fewer are too
    ambiguous to vouch for a word."""
    for candidate in (lang, "en") if script == "LATIN" and lang != "en" else (lang,):
        stem = lexicons.stemmer(candidate)
        if stem is None:
            continue
        s = stem.stemWord(key)
        if len(s) > 4 and s in lexicons.common_stems(candidate, r.min_zipf, r.name_min_zipf):
            return True
    return False


def _rare_name(t: Token, key: str, lang: str, sets, english, latin: str | None) -> bool:
    """A common-enough word that is a person's name and not common enough to be taken for a word."""
    if key in sets.very_common or (english is not None and key in english.very_common):
        return False
    if lang == "de" and key in word_sets("de", rules().min_zipf, min(rules().name_min_zipf, _GERMAN_NOUN_ZIPF)).very_common:
        return False  # German capitalises every noun: a capital says less about a name there
    if lang == "zh":
        return 2 <= len(key) <= 3 and key[0] in _HAN_SURNAMES
    if t.script not in ("LATIN", "CYRILLIC", "GREEK"):
        return False
    capitalised = t.text[0].isupper()
    if not capitalised and latin != "en":
        return False
    if t.text.isupper() and len(t.text) <= 4:
        return False  # an acronym ("NI", "SIM"), as the name finder reads it too
    folded = fold(key)
    return folded in lexicons.person_names() and folded not in lexicons.english_words()


# ------------------------------------------------------------------------------ languages


def _languages(toks: list[tuple[int, Token]]) -> dict[str, str | None]:
    """Script -> the language of the text's words in it: the only language with a list in that
    script, else the one whose most frequent words the text uses most (the first listed -- for
    Latin, English -- when nothing decides); None for a script without any list."""
    by_script = lexicons.languages_by_script()
    words: dict[str, list[str]] = {}
    for _, t in toks:
        if t.kind == "word":
            words.setdefault(t.script, []).append(t.key)
    out: dict[str, str | None] = {}
    for script, seen in words.items():
        candidates = by_script.get(script)
        if not candidates:
            out[script] = None
        elif len(candidates) == 1:
            out[script] = candidates[0]
        elif script == "LATIN" and all_english(seen):
            out[script] = "en"  # most feedback: every word an English one, nothing to weigh
        else:
            index = lexicons.top_index().get(script, {})
            scores: dict[str, float] = {}
            for w in seen:
                for lang, weight in index.get(w, ()):
                    scores[lang] = scores.get(lang, 0.0) + weight
            best = max(scores.values(), default=0.0)
            out[script] = next(lang for lang in candidates if scores.get(lang) == best) if best else candidates[0]
    return out


def all_english(words: list[str]) -> bool:
    """Every word is in the English list and English function words are among them."""
    r = rules()
    index = lexicons.top_index().get("LATIN", {})
    english = word_sets("en", r.min_zipf, r.name_min_zipf).common
    return all(w in english for w in words) and any(w in index and index[w][0][0] == "en" for w in words)


def _special_lexicon(langs: dict[str, str | None]) -> special.Lexicon | None:
    """One lexicon of the special-category terms of every language written in the text's
    scripts, its detected ones first (a Turkish term in a text taken for German is found)."""
    key = tuple(sorted((k, v or "") for k, v in langs.items()))
    lex = _LEXICON_BY_LANGS.get(key, _MISSING)
    if lex is _MISSING:
        by_script = lexicons.languages_by_script()
        chosen = [lang for lang in langs.values() if lang]
        for script in langs:
            chosen += by_script.get(script, ())
        chosen = tuple(lang for lang in dict.fromkeys(chosen) if lang not in special.SUBSTRING_LANGUAGES)
        lex = _LEXICON_BY_LANGS[key] = special.combined(chosen) if chosen else None
    return lex


_LEXICON_BY_LANGS: dict[tuple, special.Lexicon | None] = {}
