"""Text normalisation for PII detection: invisible characters, NFKC, JSON escapes.

Zero-width and bidi characters are how PII hides from regexes ("a\u200bnna@x.com"), so the
finder always looks at a cleaned *view* of the text and maps what it finds back to the
original offsets; the anonymizer cleans the text for good before replacing.
"""

from __future__ import annotations

import re
import unicodedata

# Control characters that carry layout we want to keep.
_KEEP_CONTROLS = frozenset("\n\t")
# Cf = format (zero-width space/joiners, bidi embeddings/overrides/isolates, BOM, soft hyphen,
# Unicode tag characters); Cc = controls; Cs/Co = surrogates and private use, never meaningful.
_DROP_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co"})
_ASCII_CONTROLS = {i: None for i in range(32) if chr(i) not in _KEEP_CONTROLS} | {127: None}


def _is_dropped(ch: str) -> bool:
    """True for a character that strip_invisible removes."""
    return ch not in _KEEP_CONTROLS and unicodedata.category(ch) in _DROP_CATEGORIES


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
    and tab: isprintable() is False for exactly those, plus separators other than the space."""
    return text.replace("\n", " ").replace("\t", " ").isprintable()


def detection_view(text: str) -> tuple[str, list[int] | None]:
    """Return (view, index_map) where view is `text` cleaned as strip_invisible would.

    index_map[i] is the offset in `text` of view[i]; it is None when view is text itself
    (the common ASCII case), so callers can skip the mapping. Normalisation is done per
    character here, so every view character maps back to exactly one original character.
    """
    if text.isascii() and not _has_ascii_controls(text):
        return text, None
    if _nothing_to_drop(text) and unicodedata.is_normalized("NFKC", text):
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
        norm = unicodedata.normalize("NFKC", ch)
        pieces.append(norm)
        index.extend([i] * len(norm))
    return "".join(pieces), index


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
