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

# Common Chinese surnames that are not everyday words or parts of common ones (no 高 "high",
# 周 "week", 方 "side", 许 of 许多 "many", 曾 of 曾经 "once", 谢 of 谢谢 "thanks"): a weak cue
# ("我是", sentence start before 的) takes a name only when it starts with one of these.
_HAN_SURNAMES = ("王李张刘陈杨赵吴徐孙朱胡郭罗郑梁宋唐韩冯邓曹彭肖董袁潘蒋蔡杜叶程苏魏吕丁沈姚卢姜崔钟谭陆汪范廖贾"
                 "韦邹孟熊秦邱尹薛闫段雷侯陶黎贺顾毛郝龚邵严覃武戴莫孔汤")
# Common Korean surnames (a Korean name is usually surname + two syllables).
_HANGUL_SURNAMES = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진지엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용"
_HAN = "\u4e00-\u9fff"
_HAN_CUES_RE = re.compile(
    rf"([{_HAN}]{{1,3}})(?=先生|女士|小姐|经理|經理|老师|老師|同学|同學|师傅|師傅|总|さん|様|氏)"
    # strong cues: "my name is", "named", "name:", "contact:" take any 2-3 characters
    rf"|(?:我叫|名叫|我的名字是|我的名字叫|我的名字|姓名[:：]?|联系人[:：]?|聯絡人[:：]?|私は)([{_HAN}]{{2,3}})"
    # weak cues: "I am", "agent" and a sentence-initial "X的" ("王秀英的账单错了": Wang
    # Xiuying's bill) only with a common surname ("我是老客户" is "I am an old customer")
    rf"|(?:我是|客服)([{_HAN_SURNAMES}][{_HAN}]{{1,2}})"
    rf"|(?:^|(?<=[\s，。！？、；,.!?;:：\"'「『(（>]))([{_HAN_SURNAMES}][{_HAN}]{{1,2}})(?=的)"
)
_HANGUL = "\uac00-\ud7a3"
_HANGUL_CUES_RE = re.compile(
    rf"([{_HANGUL}]{{2,4}})(?=\s?(?:씨|님|고객님|선생님|과장님|대리님))"
    # "제 이름은 X" (my name is): any 2-4 syllables
    rf"|(?:제 이름은|이름[:：]?)\s?([{_HANGUL}]{{2,4}})(?=입니다|이에요|예요|이고|\s|$|[.,!])"
    # "저는 X입니다" (I am X), "X 고객입니다" (I am customer X): a surname + 1-2 syllables
    # before the copula ("저는 정말 화가 났어요", "I am really angry", has none)
    rf"|저는\s?(?!고객)([{_HANGUL_SURNAMES}][{_HANGUL}]{{1,2}})(?=입니다|이에요|예요|이고)"
    rf"|([{_HANGUL_SURNAMES}][{_HANGUL}]{{1,2}})(?=\s?고객(?:입니다|이에요|인데요|인데|이고))"
)
_CYRILLIC_CUES_RE = re.compile(
    r"(?i)(?:меня зовут|господин|госпожа|г-н|г-жа|менеджер|оператор|консультант|спасибо)\s+"
    r"([А-ЯЁІЇЄҐ][а-яёіїєґ'\-]+(?:\s+[А-ЯЁІЇЄҐ][а-яёіїєґ'\-]+){0,2})"
)
# Arabic: a second word joins the name unless it starts with the conjunction و ("and":
# "محمد والإنترنت" is "Mohammed and the internet").
_AR_WORD = "[\u0600-\u06ff]+"
_AR_NEXT = "(?:\\s+(?!و)[\u0600-\u06ff]+)?"
# Common Arabic given names: after أنا ("I am", also before adjectives: "أنا غاضب", "I am
# angry") only a listed given name starts a name.
_ARABIC_GIVEN = ("محمد|أحمد|احمد|علي|حسن|حسين|عمر|خالد|يوسف|إبراهيم|ابراهيم|عبدالله|عبد الله|محمود|مصطفى|سعيد|سامي|"
                 "كريم|طارق|ياسر|ماجد|فيصل|سلمان|فهد|ناصر|عادل|هشام|وليد|رامي|زياد|بلال|جمال|حمزة|أنس|فاطمة|عائشة|"
                 "مريم|زينب|نور|سارة|ليلى|هدى|سلمى|أمل|رنا|دينا|منى|هند|خديجة|آمنة|ياسمين|رشا|لينا|نادية|سميرة")
_ARABIC_CUES_RE = re.compile(
    rf"(?:اسمي|السيد|السيدة|الأستاذ|الاستاذ|الموظف|الموظفة)\s+({_AR_WORD}{_AR_NEXT})"
    rf"|(?:أنا|انا)\s+((?:{_ARABIC_GIVEN})(?![\u0600-\u06ff]){_AR_NEXT})"
)
_CUE_RES = (_HAN_CUES_RE, _HANGUL_CUES_RE, _CYRILLIC_CUES_RE, _ARABIC_CUES_RE)


def foreign_script_names(view: str) -> list[Hit]:
    """PERSON hits: short islands of another script, and cue-announced names in any script."""
    if view.isascii():
        return []
    words = [(m.start(), m.end(), _word_script(m.group())) for m in _WORD_RE.finditer(view)]
    letters = Counter()
    skip = _not_prose(view)
    for s, e, script in words:
        if script and not (skip and any(a <= s < b for a, b in skip)):
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


# Latin letters that are not the writer's: our placeholders and JSON keys. The residual gate
# reads {"content": "王秀英的<PERSON_1>..."}; counted, "content" and "PERSON" would make a short
# Chinese or Arabic text look like a Latin one with foreign islands, all masked as names.
_NOT_PROSE_RE = re.compile(r"<[A-Z_]+_\d+>|\"[^\"\n]{1,40}\"\s*:")


def _not_prose(view: str) -> list[tuple[int, int]]:
    """Spans of placeholders and JSON keys in the view (see _NOT_PROSE_RE)."""
    if "<" not in view and '":' not in view and '" :' not in view:
        return []
    return [m.span() for m in _NOT_PROSE_RE.finditer(view)]


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
