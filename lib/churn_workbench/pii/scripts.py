"""Person names written in scripts other than the text's own (Chinese, Korean, Japanese, Arabic,
Cyrillic, Greek, Hebrew, Devanagari, Thai).

Without a language model there is no reliable way to tell a name from a word inside Chinese or
Arabic prose. Feedback to this workbench is written in European languages, so the rule works on
script *islands*: a short run of 1-4 words in a script other than the text's dominant one
("my advisor 王伟 was great", "спасибо from Иван Петров", "ask for محمد علي") is masked as a
person. Where that script dominates the text, names are found by the cues that announce them in
that language (a Chinese surname before 先生/女士/经理, "我叫"/"我是"; a Korean surname syllable
before 씨/님; "меня зовут", "господин"; "اسمي", "السيد"), plus the capitalised-name rules of
churn_workbench.pii.names, which already cover Cyrillic and Greek words in the name lists.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

Hit = tuple[str, int, int, float]

_SCRIPTS = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA", "ARABIC", "CYRILLIC", "GREEK", "HEBREW",
            "DEVANAGARI", "THAI", "LATIN")
_CASED = frozenset({"CYRILLIC", "GREEK"})
_EAST_ASIAN = {"CJK": "HAN", "HIRAGANA": "HAN", "KATAKANA": "HAN"}


@lru_cache(maxsize=1 << 16)
def script_of(ch: str) -> str | None:
    """The script family of a letter ("HAN" for Chinese characters and kana), None otherwise."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    for script in _SCRIPTS:
        if name.startswith(script):
            return _EAST_ASIAN.get(script, script)
    return "OTHER"


# A word in one non-Latin script; East Asian text has no blanks, so a Han/Hangul run is a word.
_WORD_RE = re.compile(r"[^\W\d_]+")
MAX_ISLAND_WORDS = 4
MAX_ISLAND_HAN = 6  # a Chinese name is 2-4 characters; a longer run is a phrase, masked too if short

_HAN_CUES_RE = re.compile(
    r"([\u4e00-\u9fff]{1,3})(?=先生|女士|小姐|经理|經理|老师|老師|同学|同學|师傅|師傅|总|さん|様|氏)"
    r"|(?:我叫|我是|名叫|姓名[:：]?|联系人[:：]?|聯絡人[:：]?|客服|私は)([\u4e00-\u9fff]{2,4})"
)
_HANGUL_CUES_RE = re.compile(
    r"([\uac00-\ud7a3]{2,4})(?=\s?(?:씨|님|고객님|선생님|과장님|대리님))"
    r"|(?:제 이름은|저는|이름[:：]?)\s?([\uac00-\ud7a3]{2,4})(?=입니다|이에요|예요|이고|\s|$|[.,!])"
)
_CYRILLIC_CUES_RE = re.compile(
    r"(?i)(?:меня зовут|господин|госпожа|г-н|г-жа|менеджер|оператор|консультант|спасибо)\s+"
    r"([А-ЯЁІЇЄҐ][а-яёіїєґ'\-]+(?:\s+[А-ЯЁІЇЄҐ][а-яёіїєґ'\-]+){0,2})"
)
_ARABIC_CUES_RE = re.compile(
    r"(?:اسمي|السيد|السيدة|الأستاذ|الاستاذ|الموظف|الموظفة)\s+([\u0600-\u06ff]+(?:\s+[\u0600-\u06ff]+)?)"
)
_CUE_RES = (_HAN_CUES_RE, _HANGUL_CUES_RE, _CYRILLIC_CUES_RE, _ARABIC_CUES_RE)


def foreign_script_names(view: str) -> list[Hit]:
    """PERSON hits: short islands of another script, and cue-announced names in any script."""
    if view.isascii():
        return []
    words = [(m.start(), m.end(), _word_script(m.group())) for m in _WORD_RE.finditer(view)]
    letters = Counter()
    for s, e, script in words:
        if script:
            letters[script] += e - s
    if not letters:
        return []
    # Feedback here is written in European languages: Latin is the text's own script as soon
    # as a quarter of its letters are Latin ("Merci à Иван Петров" is a French sentence).
    total = sum(letters.values())
    dominant = "LATIN" if letters["LATIN"] * 4 >= total else letters.most_common(1)[0][0]
    out = _islands(view, words, dominant)
    for pattern in _CUE_RES:
        for m in pattern.finditer(view):
            g = m.lastindex
            if g:
                out.append(("PERSON", m.start(g), m.end(g), 0.7))
    return out


def _word_script(word: str) -> str | None:
    """The script of a word when all its letters share one (a mixed word has none)."""
    scripts = {script_of(ch) for ch in word}
    scripts.discard(None)
    return scripts.pop() if len(scripts) == 1 else None


def _islands(view: str, words: list[tuple[int, int, str | None]], dominant: str) -> list[Hit]:
    """Runs of up to MAX_ISLAND_WORDS consecutive words in one script that is not dominant,
    separated only by blanks, hyphens or middle dots."""
    out = []
    i = 0
    while i < len(words):
        s, e, script = words[i]
        if script in (None, dominant, "LATIN"):
            i += 1
            continue
        j = i + 1
        while j < len(words) and words[j][2] == script and re.fullmatch(r"[ \t\-·・]+", view[words[j - 1][1] : words[j][0]]):
            j += 1
        end = words[j - 1][1]
        n_words = j - i
        # Cyrillic and Greek have capitals and names take them: a lower-case island is an
        # everyday word quoted in another language ("the app says ошибка 503").
        cased_word = script in _CASED and not all(view[words[k][0]].isupper() for k in range(i, j))
        if cased_word:
            i = j
            continue
        if n_words <= MAX_ISLAND_WORDS and not (script in ("HAN", "HANGUL") and end - s > MAX_ISLAND_HAN):
            out.append(("PERSON", s, end, 0.7))
        i = j
    return out
