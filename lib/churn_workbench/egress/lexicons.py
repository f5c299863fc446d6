"""The word lists behind the allow rule, each built once per process into frozensets.

- Common words per language from `wordfreq` (its "small" lists hold every word with a Zipf
  frequency >= 3, i.e. once per million words; a lower threshold reads the "best" lists): the
  allowed set at `min_zipf`, and a stricter set at `name_min_zipf` for words that are also
  person names. Buckets of a wordfreq list are ordered by frequency, so a set is a prefix.
- Person names: the project's name lists (pii/lexicon.py's data files) and pythainlp's Thai
  name lists; the project's English word list tells a word ("grace") from a name ("sven").
- Digit words of many languages: a run of three or more of them is a number read aloud.

Nothing is looked up per token in wordfreq: the hot path is set membership only.
"""
from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

@lru_cache(maxsize=1)
def _top_words() -> dict:
    raw = resources.files("churn_workbench").joinpath("data", "language_top_words.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw).decode("utf-8"))["languages"]


@lru_cache(maxsize=1)
def languages_by_script() -> dict[str, tuple[str, ...]]:
    """Script -> the languages with a frequency list written in it, in the order that wins a
    tie: English, then the languages the workbench is tested in, then the rest (Thai from
    pythainlp)."""
    out: dict[str, list[str]] = {"THAI": ["th"]}
    first = ("en", "de", "fr", "es", "it", "nl", "pt", "ru", "ar")
    order = {lang: i for i, lang in enumerate(first)}
    for lang, info in sorted(_top_words().items(), key=lambda kv: (order.get(kv[0], len(first)), kv[0])):
        out.setdefault(info["script"], []).append(lang)
    if "HAN" in out:
        out["HAN"] = ["zh"]  # Han in Japanese text is read as Japanese (tokens.py)
    return {script: tuple(langs) for script, langs in out.items()}


@lru_cache(maxsize=1)
def top_index() -> dict[str, dict[str, tuple[tuple[str, float], ...]]]:
    """Script -> {frequent word -> (language, weight) for each language it is among the most
    frequent words of}; the weight falls with the word's rank ("el" says Spanish more than
    French, where it is rare)."""
    index: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for lang, info in _top_words().items():
        per_script = index.setdefault(info["script"], {})
        top = info["top"]
        for rank, w in enumerate(top):
            per_script.setdefault(w, []).append((lang, 1.0 - rank / (len(top) + 1)))
    return {script: {w: tuple(v) for w, v in words.items()} for script, words in index.items()}

_lock = threading.Lock()


@dataclass(frozen=True)
class WordSets:
    """One language's lists at given thresholds (casefolded words)."""

    common: frozenset[str]       # Zipf >= min_zipf: allowed
    very_common: frozenset[str]  # Zipf >= name_min_zipf: allowed even when also a person name


@lru_cache(maxsize=64)
def word_sets(lang: str, min_zipf: float, name_min_zipf: float) -> WordSets:
    """The word sets of `lang` (empty sets for a language without a list)."""
    with _lock:
        if lang == "th":
            return _thai_sets()
        return _wordfreq_sets(lang, min_zipf, name_min_zipf)


def _wordfreq_sets(lang: str, min_zipf: float, name_min_zipf: float) -> WordSets:
    from wordfreq import get_frequency_list

    try:
        buckets = get_frequency_list(lang, "small" if min_zipf >= 3.0 else "best")
    except LookupError:
        return WordSets(frozenset(), frozenset())
    # Bucket i holds the words of frequency 10 ** (-i / 100), i.e. Zipf 9 - i / 100.
    common_end = _bucket_end(len(buckets), min_zipf)
    strict_end = _bucket_end(len(buckets), name_min_zipf)
    common = [w for bucket in buckets[:common_end] for w in bucket]
    strict = [w for bucket in buckets[:strict_end] for w in bucket]
    return WordSets(frozenset(common), frozenset(strict))


def _bucket_end(n: int, zipf: float) -> int:
    return max(0, min(n, int((9.0 - zipf) * 100) + 1))


def _thai_sets() -> WordSets:
    """Thai has no wordfreq list: pythainlp's dictionary stands in. Names that are not also
    dictionary words (most are not) are therefore unknown; the segmenter keeps them whole."""
    from pythainlp.corpus import thai_words

    words = frozenset(thai_words())
    return WordSets(words, words)


# wordfreq language -> Snowball stemmer (PyStemmer): an inflected form of a common word is a
# common word ("renews", "Verträge"), whatever the list says about that form.
_STEMMERS = {"ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
             "en": "english", "es": "spanish", "fa": "persian", "fi": "finnish", "fr": "french", "hi": "hindi",
             "hu": "hungarian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ms": "indonesian",
             "nb": "norwegian", "nl": "dutch", "pl": "polish", "pt": "portuguese", "ro": "romanian",
             "ru": "russian", "sh": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish"}


@lru_cache(maxsize=64)
def stemmer(lang: str):
    """The Snowball stemmer of `lang`, or None."""
    name = _STEMMERS.get(lang)
    if name is None:
        return None
    import Stemmer

    return Stemmer.Stemmer(name)


@lru_cache(maxsize=64)
def common_stems(lang: str, min_zipf: float, name_min_zipf: float) -> frozenset[str]:
    """The stems of the common words of `lang` (empty without a stemmer)."""
    stem = stemmer(lang)
    if stem is None:
        return frozenset()
    return frozenset(stem.stemWords(list(word_sets(lang, min_zipf, name_min_zipf).common)))


@lru_cache(maxsize=1)
def thai_names() -> frozenset[str]:
    from pythainlp.corpus import thai_family_names, thai_female_names, thai_male_names

    return frozenset(thai_male_names()) | frozenset(thai_female_names()) | frozenset(thai_family_names())


@lru_cache(maxsize=1)
def person_names() -> frozenset[str]:
    """Given names and surnames (casefolded, accents stripped) from the shipped name lists."""
    from ..pii.lexicon import load_lexicon

    lex = load_lexicon()
    return lex.first | lex.last


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The shipped English word list (SCOWL 50): a listed name that is also one of these is a word."""
    from ..pii.lexicon import load_lexicon

    return load_lexicon().common


# Number words (digits in many languages, tens and teens in the main ones), casefolded; Korean and Japanese numerals are recognised
# by their segmenter's part of speech instead, Chinese by its numeral characters.
_DIGIT_WORDS = """
zero oh nought nil one two three four five six seven eight nine double triple
zéro un une deux trois quatre cinq six sept huit neuf
null eins zwei drei vier fünf fuenf sechs sieben acht neun
cero uno una dos tres cuatro cinco seis siete ocho nueve
zero uno due tre quattro cinque sei sette otto nove
nul een twee drie vier vijf zes zeven acht negen
zero um uma dois duas três tres quatro cinco seis sete oito nove
zero jeden jedna dwa trzy cztery pięć sześć siedem osiem dziewięć
sıfır bir iki üç dört beş altı yedi sekiz dokuz
noll ett en två tre fyra fem sex sju åtta nio
nul en to tre fire fem seks syv otte ni
null en to tre fire fem seks sju åtte ni
nolla yksi kaksi kolme neljä viisi kuusi seitsemän kahdeksan yhdeksän
ноль один одна два две три четыре пять шесть семь восемь девять
нуль один одна два дві три чотири п'ять шість сім вісім дев'ять
μηδέν ένα δύο τρία τέσσερα πέντε έξι επτά εφτά οκτώ οχτώ εννέα εννιά
صفر واحد اثنان اثنين ثلاثة اربعة أربعة خمسة ستة سبعة ثمانية تسعة
אפס אחת אחד שתיים שניים שלוש שלושה ארבע ארבעה חמש חמישה שש שישה שבע שבעה שמונה תשע תשעה
शून्य एक दो तीन चार पांच पाँच छह छः सात आठ नौ
ศูนย์ หนึ่ง สอง สาม สี่ ห้า หก เจ็ด แปด เก้า
〇 零 一 二 三 四 五 六 七 八 九 两 兩 壹 贰 貳 叁 參 肆 伍 陆 陸 柒 捌 玖
ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty
seventy eighty ninety hundred thousand
dix onze douze treize quatorze quinze seize vingt vingts trente quarante cinquante soixante septante octante nonante
cent cents mille
zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig dreißig vierzig fünfzig
sechzig siebzig achtzig neunzig hundert tausend
diez once doce trece catorce quince dieciséis diecisiete dieciocho diecinueve veinte treinta cuarenta cincuenta
sesenta setenta ochenta noventa cien ciento mil
dieci undici dodici tredici quattordici quindici sedici diciassette diciotto diciannove venti trenta quaranta
cinquanta sessanta settanta ottanta novanta cento mille
tien twaalf dertien veertien vijftien zestien zeventien achttien negentien twintig dertig veertig vijftig zestig
zeventig tachtig negentig honderd duizend
dez doze treze catorze dezesseis dezasseis dezessete dezassete dezoito dezenove dezanove vinte trinta quarenta
sessenta oitenta noventa cem
doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos novecientos
duecento trecento quattrocento cinquecento seicento settecento ottocento novecento
duzentos trezentos quatrocentos quinhentos seiscentos setecentos oitocentos novecentos
on yirmi otuz kırk elli altmış yetmiş seksen doksan yüz bin
nol kosong satu dua tiga empat lima enam tujuh delapan sembilan sepuluh belas puluh ratus ribu
không một hai ba bốn năm sáu bảy tám chín mười mươi trăm linh lẻ
sero isa dalawa tatlo apat lima anim pito walo siyam sampu
sifuri moja mbili tatu nne tano sita saba nane tisa kumi
nulla egy kettő két három négy öt hat hét nyolc kilenc tíz húsz harminc
dziesięć jedenaście dwanaście dwadzieścia trzydzieści czterdzieści pięćdziesiąt sto dwieście trzysta
десять двадцать тридцать сорок пятьдесят сто двести триста
десять двадцять тридцять сорок п'ятдесят сто двісті триста
δέκα είκοσι τριάντα σαράντα πενήντα εκατό
பூஜ்யம் சுழியம் ஒன்று இரண்டு மூன்று நான்கு ஐந்து ஆறு ஏழு எட்டு ஒன்பது பத்து
শূন্য এক দুই তিন চার পাঁচ ছয় সাত আট নয়
صفر یک دو سه چهار پنج شش هفت هشت نه
"""
# Words that join the parts of one number read aloud ("cuarenta y cinco", "vingt et un") and
# the units of a date ("1985年3月12日", "12 tháng 3 năm 1985"): between two numbers they keep
# a run going (a run still needs three numbers).
RUN_JOINERS = frozenset("""and y e et und en i ve na và at
年 月 日 号 號 년 월 일 tháng ngày""".split())
# Words that are also a preposition, pronoun or common word elsewhere ("to", "en", French "et"
# and "du", English "pet" and "set") would make "one to one" a number read aloud: left out.
# Articles stay: "un quatre deux" is a number.
_NOT_DIGITS = frozenset("en to ni ett et du ok set pet dim sia ida se sis nou".split())


def _generated_digit_words() -> frozenset[str]:
    """data/digit_words.txt: the digits 0-9 in every language num2words knows (tools/digit_words.py)."""
    text = resources.files("churn_workbench").joinpath("data", "digit_words.txt").read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if line and not line.startswith("#")
                     for w in line.split(":", 1)[1].split())


DIGIT_WORDS = (frozenset(_DIGIT_WORDS.split()) | _generated_digit_words()) - _NOT_DIGITS
# Between two numbers those left out still keep a run going, as joiners do.
RUN_JOINERS = RUN_JOINERS | (_NOT_DIGITS & (frozenset(_DIGIT_WORDS.split()) | _generated_digit_words()))
HAN_NUMERALS = frozenset("〇零一二三四五六七八九十百千万萬两兩壹贰貳叁參肆伍陆陸柒捌玖拾")
