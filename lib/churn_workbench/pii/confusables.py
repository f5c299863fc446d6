"""Look-alike letters (Unicode TR39 confusables) folded to the Latin letter or digit they imitate.

"Аnna" with a Cyrillic А, or an IBAN with a Greek Ο, reads as Latin to a person and hides from
every Latin regex. The table comes from the `confusable_homoglyphs` package (its bundled copy
of the Unicode confusables data; nothing is fetched). Folding applies only inside *mixed-script*
words, i.e. words that also hold Latin letters or ASCII digits: a word written wholly in
Cyrillic is a Cyrillic word (a name in Cyrillic is found as such), not a disguise.
"""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources

from churn_workbench.pii.lazy import build_once

_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# A word for folding purposes: letters and digits of any script, with the glue characters that
# keep identifiers together ("DE89-37О4", "jane.dое@x.com").
_TOKEN_RE = re.compile(r"[^\W_]+(?:[.\-@_'][^\W_]+)*")


@build_once
def ascii_lookalikes() -> dict[int, str]:
    """code point -> the single ASCII letter/digit it is confusable with (non-ASCII only), Latin
    small capitals and other Latin-named look-alikes ("ᴄ") included."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    )
    table: dict[int, str] = {}
    for char, entries in data.items():
        glyphs = [e["c"] for e in entries]
        if char in _ASCII_ALNUM:  # "A": its look-alikes ("А", "Α", ...) fold to it
            pairs = [(g, char) for g in glyphs]
        else:  # "А": folds to the first ASCII letter/digit among its look-alikes
            latin = next((g for g in glyphs if g in _ASCII_ALNUM), None)
            pairs = [(char, latin)] if latin else []
        for src, dst in pairs:
            if len(src) != 1 or src.isascii() or not src.isalnum() or ord(src) in table:
                continue
            table[ord(src)] = dst
    return table


@build_once
def fold_table() -> dict[int, str]:
    """`ascii_lookalikes` without Latin-named letters: in free text accented Latin ("ß", "ü") is
    spelling, not a disguise."""
    return {cp: dst for cp, dst in ascii_lookalikes().items() if not unicodedata.name(chr(cp), "").startswith("LATIN")}


def fold_mixed_script(view: str) -> str:
    """Fold confusable letters inside mixed-script words; same length, so offsets still hold."""
    if view.isascii():
        return view
    table = fold_table()
    pieces = []
    last = 0
    for m in _TOKEN_RE.finditer(view):
        word = m.group()
        if word.isascii():
            continue
        has_latin = any(ch in _ASCII_ALNUM for ch in word)
        if not has_latin:
            continue
        folded = word.translate(table)
        if folded != word:
            pieces.append(view[last : m.start()])
            pieces.append(folded)
            last = m.end()
    if not pieces:
        return view
    pieces.append(view[last:])
    return "".join(pieces)
