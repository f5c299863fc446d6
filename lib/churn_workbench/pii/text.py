"""Text normalisation for PII detection: invisible characters, NFKC, JSON escapes.

Zero-width and bidi characters are how PII hides from regexes ("a\u200bnna@x.com"), so the
finder always looks at a cleaned *view* of the text and maps what it finds back to the
original offsets; the anonymizer cleans the text for good before replacing.
"""

from __future__ import annotations

import re
import unicodedata

from churn_workbench.pii.confusables import fold_mixed_script

# Control characters that carry layout we want to keep.
_KEEP_CONTROLS = frozenset("\n\t")
# Cf = format (zero-width space/joiners, bidi embeddings/overrides/isolates, BOM, soft hyphen,
# Unicode tag characters); Cc = controls; Cs/Co = surrogates and private use, never meaningful.
_DROP_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co"})
_ASCII_CONTROLS = {i: None for i in range(32) if chr(i) not in _KEEP_CONTROLS} | {127: None}
# Fillers: letters or marks that render as nothing (Hangul fillers, the braille blank, the
# combining grapheme joiner, variation selectors), so they can split a word invisibly too.
_FILLERS = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180e"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)


def _is_dropped(ch: str) -> bool:
    """True for a character that strip_invisible removes."""
    return ch not in _KEEP_CONTROLS and (unicodedata.category(ch) in _DROP_CATEGORIES or ch in _FILLERS)


def strip_invisible(text: str) -> str:
    """Remove invisible characters and NFKC-normalise.

    Input: any string. Output: the string without Unicode format characters (zero-width,
    bidi controls, tags, soft hyphens), without control characters other than newline and
    tab, NFKC-normalised (full-width letters and digits become ASCII, ligatures split).
    """
    if text.isascii():
        return text.translate(_ASCII_CONTROLS)
    if _nothing_to_drop(text):
        return unicodedata.normalize("NFKC", text)
    kept = "".join(ch for ch in text if not _is_dropped(ch))
    return unicodedata.normalize("NFKC", kept)


def _nothing_to_drop(text: str) -> bool:
    """Fast check (C string methods) that no character is Cc/Cf/Cs/Co apart from newline
    and tab: isprintable() is False for exactly those, plus separators other than the space.
    Fillers are printable, so they are looked for separately."""
    return text.replace("\n", " ").replace("\t", " ").isprintable() and _FILLERS.isdisjoint(text)


def detection_view(text: str) -> tuple[str, list[int] | None]:
    """Return (view, index_map): `text` as the finders should read it.

    The view drops invisible characters and fillers, NFKC-normalises, reads digits of any
    script as ASCII digits ("٣" -> "3"), folds look-alike letters inside mixed-script words
    ("Аnna" with a Cyrillic А -> "Anna", see churn_workbench.pii.confusables) and mends line
    breaks that split one item ("+44 7911\n123456", "jane.doe@\nexample.com", "Schmi-\ndt").
    index_map[i] is the offset in `text` of view[i]; it is None when the view is `text`
    itself (the common case), so callers can skip the mapping.
    """
    if text.isascii():
        if not _has_ascii_controls(text) and "\n" not in text:
            return text, None
    elif _nothing_to_drop(text) and "\n" not in text and _is_plain(text):
        return text, None  # accented but clean text ("José García") needs no view either
    pieces: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            if ord(ch) in _ASCII_CONTROLS:
                continue
            pieces.append(ch)
            index.append(i)
            continue
        if _is_dropped(ch):
            continue
        if ch.isdecimal():
            norm = str(unicodedata.decimal(ch, 0))
        else:
            norm = unicodedata.normalize("NFKC", ch)
        pieces.append(norm)
        index.extend([i] * len(norm))
    view = fold_mixed_script("".join(pieces))
    if "\n" in view:
        view, index = _mend_line_breaks(view, index)
    if view == text:
        return text, None
    return view, index


def _is_plain(text: str) -> bool:
    """NFKC-stable, no non-ASCII digits and nothing to fold: the view would equal the text."""
    if not unicodedata.is_normalized("NFKC", text):
        return False
    if any(ch.isdecimal() and not ch.isascii() for ch in text):
        return False
    return fold_mixed_script(text) == text


# A line break inside one item: after "@", "-", "_", "/" or before "@"/".", or after a full
# stop followed by a lower-case letter ("jane.\ndoe@x.com"; a new sentence starts upper case).
_GLUED_BREAK_RE = re.compile(r"(?<=[^\W\d_])-\n(?=[a-z])|(?<=[@_/\-])[ \t]*\n[ \t]*(?=\S)|(?<=\S)[ \t]*\n[ \t]*(?=[@.])|(?<=\w\.)\n(?=[a-z0-9])")
# Any other single line break reads as a blank: "+44 7911\n123456", "Anna\nSchmidt".
_SPACED_BREAK_RE = re.compile(r"(?<![.!?:;\n])\n(?!\n)")


def _mend_line_breaks(view: str, index: list[int] | None) -> tuple[str, list[int]]:
    """Delete glued line breaks and turn other single breaks into blanks (index kept aligned)."""
    if index is None:
        index = list(range(len(view)))
    drop: set[int] = set()
    for m in _GLUED_BREAK_RE.finditer(view):
        drop.update(range(m.start(), m.end()))
    chars = list(view)
    for m in _SPACED_BREAK_RE.finditer(view):
        chars[m.start()] = " "
    if not drop:
        return "".join(chars), index
    keep = [k for k in range(len(chars)) if k not in drop]
    return "".join(chars[k] for k in keep), [index[k] for k in keep]


def _has_ascii_controls(text: str) -> bool:
    """True when an ASCII string holds a control character other than newline or tab."""
    return _ASCII_CONTROL_RE.search(text) is not None


_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def map_span(index: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """Map a [start, end) span of a detection view back to the original text."""
    if index is None:
        return start, end
    return index[start], index[end - 1] + 1


_JSON_ESCAPE_RE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": " ", "b": " ", "f": " ", '"': '"', "\\": " ", "/": "/"}


def unescape_json_same_length(payload: str) -> str:
    """Decode JSON string escapes without moving any character.

    Input: JSON text (or any text). Output: a string of the same length where each escape
    ("\\n", "\\u00e9", ...) is replaced by its character padded with spaces, so "Hi\\nAnna"
    shows "Anna" as a word and "Jos\\u00e9" shows "José", while offsets still index `payload`.
    """
    if "\\" not in payload:
        return payload
    return _JSON_ESCAPE_RE.sub(_decode_escape, payload)


def _decode_escape(match: re.Match[str]) -> str:
    """One escape -> its character, padded with spaces to the escape's length."""
    raw = match.group(0)
    if raw[1] == "u":
        ch = chr(int(raw[2:], 16))
        if 0xD800 <= ord(ch) <= 0xDFFF or _is_dropped(ch):
            ch = " "  # lone surrogate halves and invisibles carry no letters to find
        else:
            ch = unicodedata.normalize("NFKC", ch)[:1] or " "
        return ch + " " * (len(raw) - 1)
    return _SIMPLE_ESCAPES[raw[1]] + " "
