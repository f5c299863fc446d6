"""The one canonical tokenisation: every egress decision judges these tokens.

A text (already in canonical form, see canonical.py) is cut at blanks into chunks; a chunk is
cut around placeholders, loses the punctuation at its edges, and what is left (its core) is:

- a number in one piece when the whole core has a harmless form ("£1,299.99", "20%", "5G");
- one *code* token when it has the shape of something that identifies: an e-mail or handle
  ("@" inside), a URL ("://", "www.", or labels joined by dots, also defanged as "[.]"), an
  identifier ("_" inside, or letters and digits in one alphanumeric run: a VIN, a plate, a
  wallet, a one-time code). A code is never a word, so it never leaves;
- otherwise words and digit runs, split at hyphens, slashes and other inner punctuation. Words
  in Chinese, Japanese, Korean and Thai are cut by their segmenters (scripts.py).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import regex

from ..pii.lexicon import fold
from ..pii.types import PLACEHOLDER_LABELS
from . import numbers
from .lexicons import DIGIT_WORDS, HAN_NUMERALS
from .scripts import SEGMENTED, script_of, segment

PLACEHOLDER_LABEL_SET = frozenset(PLACEHOLDER_LABELS.values())
PLACEHOLDER_RE = regex.compile(
    r"<(?:%s)_\d+>" % "|".join(sorted(PLACEHOLDER_LABEL_SET, key=len, reverse=True)))


@dataclass(frozen=True)
class Token:
    """One token of a canonical text: text[start:end].

    kind: "placeholder", "word", "number" or "code". script: of a word's letters. tag: what a
    segmenter or the shape says it is ("PERSON", "NUMBER" for a numeral word; "EMAIL", "URL",
    "ID" for a code). harmless: a number in a harmless form (see numbers.py). glued: no blank
    between this token and the previous one.
    """

    start: int
    end: int
    text: str
    kind: str
    script: str = ""
    tag: str | None = None
    harmless: bool = False
    glued: bool = False
    key: str = ""         # a word casefolded ("" for other kinds)
    folded: str = ""      # ... and accent-stripped (special categories)
    numeric: bool = False  # a bare number or a number word: may be part of a number read out
    verdicts: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # language -> label (allow.py)

    def __post_init__(self):
        # Computed once: tokens are cached per chunk, and chunks repeat across texts.
        if self.kind == "word":
            key = self.text.casefold()
            object.__setattr__(self, "key", key)
            object.__setattr__(self, "folded", fold(key))
            object.__setattr__(self, "numeric", key in DIGIT_WORDS or self.tag == "NUMBER" or (
                self.script == "HAN" and all(ch in HAN_NUMERALS for ch in self.text)))
        elif self.kind == "number":
            object.__setattr__(self, "numeric", self.text.isdigit())


_CHUNK_RE = regex.compile(r"\S+")
_WORD_RE = regex.compile(r"[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)*")
_PIECE_RE = regex.compile(r"[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)*|\d+(?:[.,:]\d+)*")
_HOST_RE = regex.compile(r"\p{L}[\p{L}\p{M}\d-]*(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))[\p{L}\d][\p{L}\p{M}\d-]+", regex.I)
_URL_HINT_RE = regex.compile(r"(?i)://|^(?:www|hxxps?|https?|ftp)\b|\[\.\]|\(\.\)|\[dot\]|\(dot\)")
_ALNUM_RUN_RE = regex.compile(r"[\p{L}\p{M}\d]+")
_NUMBERISH_RE = regex.compile(r"[\d.,:'’/\-]+")
# Characters dropped at the edges of a chunk: punctuation (but not what makes a code or a
# number: "@", "%", "&", "/", "\\", "_") and a few symbols ("+44" reads as "44").
_KEEP_EDGE = frozenset("@%&/\\_")


@lru_cache(maxsize=4096)
def _edge(ch: str) -> bool:
    if ch in _KEEP_EDGE:
        return False
    cat = unicodedata.category(ch)
    return cat[0] == "P" or ch in "*~^|`=+<>" or cat in ("So", "Sk", "Sm")


def tokens(text: str) -> list[tuple[int, Token]]:
    """The tokens of a canonical text, in order, as (offset of the token's chunk, token with
    offsets inside its chunk): chunks repeat across texts, so their tokens are cached."""
    japanese = not text.isascii() and any(script_of(ch) == "KANA" for ch in text)
    out: list[tuple[int, Token]] = []
    append = out.append
    cache = _CHUNKS
    for chunk in _CHUNK_RE.finditer(text):
        start = chunk.start()
        body = chunk.group()
        found = cache.get((body, japanese))
        if found is None:
            found = chunk_tokens(body, japanese)
        for t in found:
            append((start, t))
    return out


# chunk -> its tokens; feedback reuses a small vocabulary, so most chunks are found here.
_CHUNKS: dict[tuple[str, bool], tuple] = {}
_CHUNKS_MAX = 300_000


# chunk -> what the allow rule found out about it alone (allow.py's fast path)
CHUNK_FACTS: dict[str, tuple] = {}


def forget_chunks() -> None:
    """Drop cached tokens and the verdicts cached on them (the rules or vocabulary changed)."""
    _CHUNKS.clear()
    CHUNK_FACTS.clear()


def ascii_chunks(text: str) -> list[str]:
    """The chunks of an ASCII text (blank-separated), as `tokens` cuts it."""
    return text.split()


def absolute(offset: int, token: Token) -> tuple[int, int]:
    """The span of a token of `tokens()` in the text."""
    return offset + token.start, offset + token.end


def chunk_tokens(body: str, japanese: bool = False) -> tuple[Token, ...]:
    """The tokens of one blank-free chunk, offsets inside the chunk (cached)."""
    key = (body, japanese)
    found = _CHUNKS.get(key)
    if found is None:
        if len(_CHUNKS) >= _CHUNKS_MAX:
            _CHUNKS.clear()
        found = _CHUNKS[key] = _chunk_tokens(body, japanese)
    return found


def _chunk_tokens(body: str, japanese: bool) -> tuple[Token, ...]:
    out: list[Token] = []
    pos = 0
    glued = False
    for ph in PLACEHOLDER_RE.finditer(body):
        if ph.start() > pos:
            _core(body[pos:ph.start()], pos, out, japanese, glued)
            glued = True
        out.append(Token(ph.start(), ph.end(), ph.group(), "placeholder", glued=glued))
        glued = True
        pos = ph.end()
    if pos < len(body):
        _core(body[pos:], pos, out, japanese, glued)
    return tuple(out)


def _core(part: str, offset: int, out: list[Token], japanese: bool, glued: bool) -> None:
    """Tokens of one blank-free part of a chunk (offset: its start in the text)."""
    lo, hi = 0, len(part)
    while lo < hi and _edge(part[lo]):
        lo += 1
    while hi > lo and _edge(part[hi - 1]):
        hi -= 1
    if lo == hi:
        return
    core = part[lo:hi]
    start = offset + lo
    has_digit = any(ch.isdigit() for ch in core)
    has_letter = any(ch.isalpha() for ch in core)
    if not has_digit and not has_letter:
        return
    if has_digit and numbers.harmless(core):
        out.append(Token(start, start + len(core), core, "number", harmless=True, glued=glued))
        return
    tag = _code_tag(core, has_digit, has_letter)
    if tag:
        out.append(Token(start, start + len(core), core, "code", tag=tag, glued=glued))
        return
    for m in _PIECE_RE.finditer(core):
        piece = m.group()
        s = start + m.start()
        glue = glued or m.start() > 0
        if piece[0].isdigit():
            ok = numbers.harmless_integer(piece) if piece.isdigit() else numbers.harmless(piece)
            out.append(Token(s, s + len(piece), piece, "number", harmless=ok, glued=glue))
        else:
            _words(piece, s, out, japanese, glue)


def _code_tag(core: str, has_digit: bool, has_letter: bool) -> str | None:
    """EMAIL, URL or ID when the core has the shape of an identifier; None for prose."""
    if "@" in core and has_letter:
        return "EMAIL"
    if _URL_HINT_RE.search(core) or (has_letter and "." in core.replace("..", "") and _HOST_RE.search(core)):
        return "URL"
    if "_" in core.strip("_") or "\\" in core:
        return "ID"
    if has_digit and has_letter:
        if any(script_of(ch) in SEGMENTED for ch in core if ch.isalpha()):
            return None  # "3月", "2023년에": no blanks in those scripts, digits sit next to words
        for run in _ALNUM_RUN_RE.findall(core):
            if any(ch.isdigit() for ch in run) and any(ch.isalpha() for ch in run) and not numbers.harmless(run):
                return "ID"
    return None


def _words(piece: str, start: int, out: list[Token], japanese: bool, glued: bool) -> None:
    """Word tokens of a run of letters, split where the script changes, segmented where the
    script writes no blanks."""
    if piece.isascii():
        out.append(Token(start, start + len(piece), piece, "word", "LATIN", glued=glued))
        return
    for run_start, run_end, script in _script_runs(piece, japanese):
        run = piece[run_start:run_end]
        s = start + run_start
        if script in SEGMENTED:
            for a, b, surface, tag in segment(run, script, japanese):
                out.append(Token(s + a, s + b, surface, "word", script, tag=tag, glued=glued or a > 0))
        else:
            out.append(Token(s, s + len(run), run, "word", script, glued=glued))
        glued = True


def _script_runs(piece: str, japanese: bool) -> list[tuple[int, int, str]]:
    """(start, end, script) runs of one script; marks and apostrophes join the run they are in.
    In Japanese text, Han and kana form one run (MeCab reads them together)."""
    runs: list[tuple[int, int, str]] = []
    current, begin = None, 0
    for i, ch in enumerate(piece):
        script = script_of(ch) if ch.isalpha() else None
        if script is None:
            continue  # a mark or an apostrophe stays with its run
        if japanese and script in ("HAN", "KANA"):
            script = "KANA"
        if script != current:
            if current is not None:
                runs.append((begin, i, current))
            current, begin = script, i
    if current is not None:
        runs.append((begin, len(piece), current))
    return runs
