"""Person names without an NLP model: name lists, capitalisation and context words.

Words are classified (listed name, ambiguous name such as "Grace", unlisted, everyday word,
stopword, particle, initial); adjacent capitalised name-like words form a group
("Anna Schmidt", "Maria van der Berg", "J. Smith"). A group is a name when:

1. a title precedes it ("Mr Okafor", "Frau Weiß") or "my name is" -> whatever its words;
2. it has two or more words, one of them an unambiguous listed name ("Anna Schmidt"), or
   it is an ambiguous given name + surname ("Will Smith"), or an initial + surname
   ("J. Smith");
3. it is a single unambiguous listed name ("Anna");
4. it is ambiguous or unlisted ("Grace", "Xiomara") and a role or relation noun, greeting,
   "spoke to/with", "I'm", or "called/named" after a noun announces it ("my advisor Grace",
   "thanks Grace", "an agent called Xiomara"; not "I called Vodafone");
and it is not part of a place ("Baker Street", "Douglas village", "Faith Church").
Outside groups, a lower-case listed name is a name after such context ("my son david"), a
lower-case unlisted word only right after a role or relation noun ("my son arash").
Lower-case particles right before a name belong to it ("Mrs de Jong"), and once a word is
a name in a text, its other occurrences are too ("Anna ... ANNA").

Stopwords ("Thanks", "Monday"), everyday English words ("Premium"), acronyms and words not
written like names ("OpenAI", "NaN") never make a name by themselves: that keeps precision.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from churn_workbench.pii.words import words_of
from churn_workbench.pii.lexicon import (
    BUILDING_WORDS,
    HONORIFICS,
    NAMING_VERBS,
    PARTICLES,
    PLACE_WORDS,
    PREPOSITIONS,
    RELATION_NOUNS,
    ROLE_CONTEXT,
    STOPWORDS,
    STRONG_CONTEXT,
    VERBS_BEFORE_PREPOSITION,
    WORD_RE,
    Lexicon,
    fold,
    load_lexicon,
)

# Stopwords that are also common given names ("Will Smith", "my wife May").
NAMEABLE_STOPWORDS = frozenset({"will", "may", "june", "april", "august", "bill"})

# Word classes.
NAME, AMBIGUOUS, UNKNOWN, COMMON, STOP, PARTICLE, INITIAL = "N", "A", "U", "C", "S", "P", "I"

# What may separate two words of one name, and a context word from the name it announces.
_NAME_GAP_RE = re.compile(r"[ \t]+|[ \t]*\.[ \t]+")  # ". " only after an initial
_CONTEXT_GAP_RE = re.compile(r"[\s,:(\"'“”‘’\-–]*")
_HONORIFIC_GAP_RE = re.compile(r"\.?[ \t]*")
_SCORES = {"strong": 0.85, "pair": 0.8, "single": 0.65, "context": 0.7, "ambiguous_pair": 0.6,
           "repeat": 0.6}


class Word(NamedTuple):
    """A word of the text with its class and whether it starts with a capital."""

    start: int
    end: int
    text: str
    key: str
    kind: str
    capital: bool


def find_person_names(text: str, lexicon: Lexicon | None = None) -> list[tuple[int, int, float]]:
    """Find person names. Input: text. Output: sorted, non-overlapping (start, end, score)."""
    lex = lexicon or load_lexicon()
    words = _words(text, lex)
    found: list[tuple[int, int, float]] = []
    i = 0
    while i < len(words):
        group_end = _group_end(text, words, i)
        if group_end > i:
            span = _judge_group(text, words, i, group_end, lex)
            if span:
                found.append(span)
            i = group_end
        else:
            span = _judge_lowercase(text, words, i, lex)
            if span:
                found.append(span)
            i += 1
    return _propagate(words, found)


def _propagate(words: list[Word], found: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Once "Anna" is a name in a text, "ANNA" and "anna" elsewhere in it are too.
    Only unambiguous or unlisted name words spread; "Will" in "Will Smith" does not.
    Linear in words + found (both sorted by position): huge texts stay fast."""
    if not found:
        return found
    inside = _words_inside(words, found)
    keys = {
        w.key
        for w, covered in zip(words, inside)
        if covered and (w.kind in (NAME, UNKNOWN) or (w.kind == STOP and w.text.isupper()))
    }
    keys -= STOPWORDS
    extra = [
        (w.start, w.end, _SCORES["repeat"])
        for w, covered in zip(words, inside)
        if not covered and w.key in keys and len(w.key) > 1
    ]
    return sorted(found + extra) if extra else found


def _words_inside(words: list[Word], found: list[tuple[int, int, float]]) -> list[bool]:
    """For each word, whether it overlaps one of the (sorted, non-overlapping) found spans."""
    out = []
    k = 0
    for w in words:
        while k < len(found) and found[k][1] <= w.start:
            k += 1
        out.append(k < len(found) and found[k][0] < w.end)
    return out


def _words(text: str, lex: Lexicon) -> list[Word]:
    """Tokenise and classify; words glued to digits, '@', '_', slashes or a '(' after them,
    or inside a dotted token ("example.com"), are skipped: they belong to handles, e-mails,
    URLs or code, which other recognizers own. (Hot path: kept free of helper calls.)"""
    out = []
    n = len(text)
    for m in WORD_RE.finditer(text):
        s, e = m.span()
        before = text[s - 1] if s else " "
        after = text[e] if e < n else " "
        if before in _GLUE or after in _GLUE_AFTER:
            continue
        if (before == "." and s >= 2 and text[s - 2].isalnum()) or (
            after == "." and e + 1 < n and text[e + 1].isalnum()
        ):
            continue
        word = m.group()
        if len(word) == 1:
            initial = word.isupper() and word != "I" and after == "."
            out.append(Word(s, e, word, word.lower(), INITIAL if initial else STOP, word.isupper()))
            continue
        hit = _KIND_CACHE.get(word)
        if hit is None:
            hit = _classify(word, lex)
        capital = word[0].isupper()
        if capital or hit[2]:
            out.append(Word(s, e, word, hit[0], hit[1], capital))
    return out


_GLUE = frozenset("0123456789@_/\\")
_GLUE_AFTER = _GLUE | {"("}  # "Len(3)": code, not a name
# word -> (folded key, class); feedback reuses a small vocabulary, so most words hit.
_KIND_CACHE: dict[str, tuple[str, str, bool]] = {}
_KIND_CACHE_MAX = 500_000


def _classify(word: str, lex: Lexicon) -> tuple[str, str, bool]:
    """(folded key, class, matters in lower case) of a word of two or more letters, cached
    in _KIND_CACHE. A lower-case everyday word that is no context word ("the", "router")
    can be left out of the word list: every rule checks the text between the words it
    relates, so a left-out word still separates them."""
    if len(_KIND_CACHE) >= _KIND_CACHE_MAX:
        _KIND_CACHE.clear()
    key = fold(word)
    kind = _kind(word, key, lex)
    matters = kind in (NAME, UNKNOWN, PARTICLE) or key in _CONTEXT_WORDS
    hit = _KIND_CACHE[word] = (key, kind, matters)
    return hit


def _kind(word: str, key: str, lex: Lexicon) -> str:
    """The class of a word (NAME, AMBIGUOUS, UNKNOWN, COMMON, STOP or PARTICLE)."""
    if key in PARTICLES and word.islower():
        return PARTICLE
    if key in NAMEABLE_STOPWORDS:
        return AMBIGUOUS  # "Will", "May": names only with context or a surname
    if key in STOPWORDS or key in HONORIFICS:
        return STOP
    if word.isupper() and len(word) <= 4:
        return STOP  # acronyms: SIM, IBAN, TV, EE
    if key in lex.first or key in lex.last or _hyphen_parts_are_names(key, lex):
        if not (word.islower() or word.isupper() or _name_shaped(word)):
            return COMMON  # "NaN", "IRIs": listed names, but not written as names
        if key in lex.common and word.isascii() and word.casefold() not in lex.exact_names:
            return COMMON  # "Basic" is a word; only its accent-folded form is a name ("Bašić")
        return AMBIGUOUS if key in lex.ambiguous else NAME
    if key in lex.common:
        return COMMON
    # Lower-case unknown words stay UNKNOWN: only "my son arash"-style context accepts them.
    return UNKNOWN if word.islower() or _name_shaped(word) else COMMON


_MC_RE = re.compile(r"^(?:Mc|Mac|O'|D'|d'|Di|De|Le|La|Van)(?=[A-Z])")


def _name_shaped(word: str) -> bool:
    """True for "Xiomara", "Nwosu-Okafor", "Soo-ah", "McAllister", "O'Neill"; False for "OpenAI",
    "PrettyTable", "NaN", "iPhone": unlisted words only pass as names in name shape."""
    first, *rest = re.split(r"['’\-]", _MC_RE.sub("", word))
    if len(first) > 1 and not (first[0].isupper() and first[1:].islower()):
        return False
    # later parts: "Nwosu-Okafor", or lower case as in "Soo-ah", "Jean-de-Dieu"
    return word[0].isupper() and all(p.islower() or p[:1].isupper() and p[1:].islower() for p in rest)


def _hyphen_parts_are_names(key: str, lex: Lexicon) -> bool:
    """'anna-lena' is a name when each hyphen part is."""
    if "-" not in key:
        return False
    return all(p in lex.first or p in lex.last for p in key.split("-"))


def _group_end(text: str, words: list[Word], i: int) -> int:
    """Index after the group of name-like capitalised words starting at i (i if none).

    A group holds capitalised NAME/AMBIGUOUS/UNKNOWN words and initials, separated by
    blanks, with lower-case particles allowed between two of them."""
    if not _can_be_in_group(words[i]):
        return i
    j = i + 1
    while j < len(words):
        k = j
        while k < len(words) and words[k].kind == PARTICLE:
            k += 1  # particles only count if a name word follows them
        if k >= len(words) or not _can_be_in_group(words[k]):
            break
        if not all(_name_gap(text, words[m - 1], words[m]) for m in range(j, k + 1)):
            break
        j = k + 1
    return j


def _can_be_in_group(w: Word) -> bool:
    """Capitalised name-like words and initials make up groups."""
    return w.capital and w.kind in (NAME, AMBIGUOUS, UNKNOWN, INITIAL)


def _name_gap(text: str, left: Word, right: Word) -> bool:
    """True when only blanks (or an initial's full stop) separate two words of one name."""
    gap = text[left.end : right.start]
    if "." in gap and left.kind != INITIAL:
        return False
    return _NAME_GAP_RE.fullmatch(gap) is not None


def _particles_before(text: str, words: list[Word], i: int) -> int:
    """Index of the first lower-case particle in an unbroken chain right before words[i]
    ("Mrs de Jong": the index of "de"); i when there is none."""
    k = i
    while k > 0 and words[k - 1].kind == PARTICLE:
        if not _BLANKS_RE.fullmatch(text[words[k - 1].end : words[k].start]):
            break
        k -= 1
    return k


_BLANKS_RE = re.compile(r"[ \t]+")
_GREETINGS = frozenset({"hi", "hello", "hey"})
_SUBJECTS = frozenset("i we you they he she it who and then also just again have has had finally".split())
# Lower-case words that rules look at: context words, subjects, place words.
_CONTEXT_WORDS = (
    STRONG_CONTEXT | ROLE_CONTEXT | NAMING_VERBS | PREPOSITIONS | VERBS_BEFORE_PREPOSITION
    | PLACE_WORDS | _SUBJECTS | frozenset({"am", "m", "s", "is", "this", "it", "name", "names", "its", "im"})
)


def _context(text: str, words: list[Word], i: int) -> str | None:
    """How the words before words[i] announce a name: "strong", "role" or None."""
    if i == 0:
        return None
    prev = words[i - 1]
    gap = text[prev.end : words[i].start]
    if prev.key in HONORIFICS and _HONORIFIC_GAP_RE.fullmatch(gap):
        return "strong"
    if not _CONTEXT_GAP_RE.fullmatch(gap):
        return None  # a sentence ended in between
    if prev.key in STRONG_CONTEXT:
        return "strong"
    if prev.key in NAMING_VERBS:
        # "an agent called Tobi" names someone; "I called Vodafone" is a phone call.
        return None if i >= 2 and words[i - 2].key in _SUBJECTS else "role"
    if prev.key == "is" and i >= 2 and words[i - 2].key in ("name", "names"):
        return "strong"  # "my name is ..."
    if prev.key in ("its", "im") and i >= 2 and words[i - 2].key in _GREETINGS:
        return "strong"  # "hi its kasia", "hey im tom": apostrophes dropped, as people type
    if prev.key in ROLE_CONTEXT:
        return "role"
    if i >= 2:
        before = words[i - 2].key
        if prev.key in PREPOSITIONS and before in VERBS_BEFORE_PREPOSITION:
            return "role"
        if (before, prev.key) in (("i", "am"), ("i", "m"), ("this", "is"), ("it", "s")):
            return "role"  # "I'm Anna", "this is Anna"
    return None


def _judge_group(
    text: str, words: list[Word], i: int, j: int, lex: Lexicon
) -> tuple[int, int, float] | None:
    """Decide whether words[i:j] (a group) is a person name; return its span or None."""
    group = [w for w in words[i:j] if w.kind != PARTICLE]
    first = _particles_before(text, words, i)  # "Mrs de Jong": the name starts at "de"
    context = _context(text, words, first)
    if context != "strong" and _names_a_place(text, words, j, group):
        return None
    start, end = words[first].start, words[j - 1].end
    kinds = [w.kind for w in group if w.kind != INITIAL]
    if not kinds:
        return None
    if context == "strong":
        return start, end, _SCORES["strong"]
    if len(kinds) >= 2:
        if NAME in kinds:
            return start, end, _SCORES["pair"]
        given, surname = group[0], group[-1]
        if given.key in lex.first and surname.key in lex.last and UNKNOWN not in kinds:
            return start, end, _SCORES["ambiguous_pair"]
        return (start, end, _SCORES["context"]) if context == "role" else None
    kind = kinds[0]
    if len(group) == 1 and _after_numeral_or_article(text, start):
        return None  # "drei Mal", "jedes Mal", "2 Grace": a counted or determined noun
    if len(group) > 1 and group[-1].key in lex.last:
        return start, end, _SCORES["ambiguous_pair"]  # "J. Smith"
    if kind == NAME:
        return start, end, _SCORES["single"]
    if context == "role":
        return start, end, _SCORES["context"]
    return None


# A single capitalised word right after a numeral or a German determiner is a noun ("drei
# Mal", "dieses Mal", "3 Will"); names are not counted, and German capitalises every noun.
_NUMERAL_OR_ARTICLE = frozenset(
    """one two three four five six seven eight nine ten ein eine zwei drei vier fünf sechs sieben acht neun
    zehn un une deux trois quatre cinq uno una dos tres cuatro cinco das dieses jedes letztes nächstes
    manches welches kein keine keinen""".split()
)
# A placeholder for a number ("<POSTCODE_1> Sevilla" in an anonymized text) reads as the
# digits it replaced, so the residual gate judges the word as the anonymizer did.
_WORD_BEFORE_RE = re.compile(r"(\d+|[^\W\d_]+|<(?!PERSON_)[A-Z_]+_\d+>)[ \t]+$")


def _after_numeral_or_article(text: str, start: int) -> bool:
    m = _WORD_BEFORE_RE.search(text, max(0, start - 24), start)
    if not m:
        return False
    word = m.group(1)
    return word.isdigit() or word[0] == "<" or word.lower() in _NUMERAL_OR_ARTICLE


def _right_after_relation_noun(text: str, words: list[Word], i: int) -> bool:
    """True for "my son arash", "my wife, xiomara": a lower-case role or relation noun, then
    only a blank or comma. (Not 'title="Kraken Tech" src=': markup is no sentence.)"""
    prev = words[i - 1]
    return (
        len(words[i].text) >= 3
        and prev.key in RELATION_NOUNS
        and not prev.capital
        and _RELATION_GAP_RE.fullmatch(text[prev.end : words[i].start]) is not None
    )


_RELATION_GAP_RE = re.compile(r",?[ \t]+")


def _names_a_place(text: str, words: list[Word], j: int, group: list[Word]) -> bool:
    """True when the group is part of a place or building name: "Baker Street", "Douglas
    village" (the next word is a place word) or "Faith Church" (its own last word is a
    building word that is rarely a surname; "Grace Park" stays a person)."""
    if len(group) >= 2 and group[-1].key in BUILDING_WORDS:
        return True
    if j < len(words) and words[j].key in PLACE_WORDS:
        return _BLANKS_RE.fullmatch(text[words[j - 1].end : words[j].start]) is not None
    return False


def _judge_lowercase(
    text: str, words: list[Word], i: int, lex: Lexicon
) -> tuple[int, int, float] | None:
    """A word outside any group: a name only if it is a lower-case listed name announced by
    context ("my son david"), or an unlisted one right after a relation noun ("my son arash")."""
    w = words[i]
    if w.capital or w.kind not in (NAME, UNKNOWN):
        return None  # lower-case "will", "key": everyday words stay words
    context = _context(text, words, i)
    if context is None:
        return None
    if w.kind == UNKNOWN and context != "strong" and not _right_after_relation_noun(text, words, i):
        return None  # "my son arash": only right after a lower-case role or relation noun
    end = w.end
    nxt = words[i + 1] if i + 1 < len(words) else None
    if nxt and not nxt.capital and nxt.key in lex.last and _name_gap(text, w, nxt):
        end = nxt.end  # "named anna schmidt"
    return w.start, end, _SCORES["context"]



# Self-introductions written in lower case ("my name is mark o'brien", "je m'appelle pierre
# dupont", "me llamo ana garcía"). The word list leaves lower-case everyday words out, and
# "mark" is one, so the rules above never see it; after an explicit naming phrase the next
# word is a name when the lists know it as one or it is no everyday word, and a following
# surname-like word joins it ("o'brien", "obrien", "nwosu"). After the weaker "I'm"/"I am"
# ("I'm sure", "I'm rich and ...") the first word must be a listed given name, and an
# everyday one ("mark", "rich") counts only with a surname after it.
_NAME_WORD = r"[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)?"
_INTRO_TAIL = rf"[ \t]*,?[ \t]+(?P<w1>{_NAME_WORD})(?:[ \t]+(?P<w2>{_NAME_WORD}))?"
_STRONG_INTRO_RE = re.compile(
    r"(?i)\b(?:my\s+name\s+is|my\s+name['’]s|mein\s+name\s+ist|ich\s+hei(?:ß|ss)e|"
    r"je\s+m['’]appelle|me\s+llamo|mi\s+nombre\s+es|mi\s+chiamo|ik\s+heet|mijn\s+naam\s+is)" + _INTRO_TAIL
)
# case-sensitive classes: a case-insensitive pattern scanned over every English text costs more
_WEAK_INTRO_RE = re.compile(r"\b[Ii](?:['’]?[mM]|[ \t]+[aA][mM])" + _INTRO_TAIL)
_INTRO_WORDS = frozenset("name heiße heisse appelle m'appelle m’appelle llamo nombre chiamo heet naam".split())


def introduced_names(text: str, lexicon: Lexicon | None = None) -> list[tuple[int, int, float]]:
    """Names after a self-introduction in any case (see _STRONG_INTRO_RE, _WEAK_INTRO_RE)."""
    words = words_of(text)  # cached: shared with the detectors' gates
    strong = not words.isdisjoint(_INTRO_WORDS)
    weak = "m" in words or "am" in words or "im" in words  # "I'm", "I am", "im"
    if not (strong or weak):
        return []
    lex = lexicon or load_lexicon()
    out = []
    matches = [(m, True) for m in _STRONG_INTRO_RE.finditer(text)] if strong else []
    if weak:
        matches += [(m, False) for m in _WEAK_INTRO_RE.finditer(text)]
    for m, is_strong in matches:
        k1 = fold(m.group("w1"))
        listed = k1 in lex.first or k1 in lex.last
        w2 = m.group("w2")
        k2 = fold(w2) if w2 else None
        surname = bool(k2) and k2 not in STOPWORDS and (
            k2 in lex.last or (k2 not in lex.common and k2.replace("'", "").replace("’", "").isalpha())
        )
        # a function word ("on", "not") is no name; one that is also a given name ("jan",
        # "will") is, with a surname after it
        if k1 in STOPWORDS and not (k1 in lex.first and surname):
            continue
        if is_strong:
            if not (listed or k1 not in lex.common):
                continue
        elif not (k1 in lex.first and (surname or k1 not in lex.common)):
            continue
        end = m.end("w2") if surname else m.end("w1")
        out.append((m.start("w1"), end, _SCORES["strong"]))
    return out
