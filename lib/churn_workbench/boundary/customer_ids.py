"""Customer ids: one canonical form everywhere, and the looser key that withdrawals match on.

**Canonical form** (`canonical`): Unicode NFKC (full-width `Ｃ７００１` is `C7001`), invisible
format characters removed (zero-width spaces, joiners, byte-order marks: Unicode's
default-ignorable code points), white space trimmed at both ends; letter case is kept. The
ingest applies it to the id column of every table it imports (customers, feedback, consent) and
to outcome files; subject commands apply it to the id they are given. Two rows whose ids are
equal in canonical form are the same customer (a customers file holding both is refused as
duplicate ids). A consent *grant* counts for its canonical id only.

**Match key** (`match_key_sql`): what a withdrawal or objection matches, and what
erasure looks for in the consent register. The canonical id, case-folded, with every non-ASCII
character that imitates an ASCII letter or digit folded to it (Cyrillic `С`, Greek `Ο`,
mathematical and full-width forms, Latin small capitals like `ᴄ`; Unicode TR39 confusables as
bundled by `confusable-homoglyphs`, see pii/confusables.py), taken before and after NFKC, so a
look-alike NFKC turns into another letter (`Ϲ` -> `Σ`) still folds to the letter it imitated;
white space and any other characters that are neither letters nor digits trimmed at both ends
(quotes, brackets or a full stop around an id). ASCII characters are
never folded onto each other (`O`/`0`, `l`/`1` stay apart: real ids differ by exactly those).
A withdrawal in doubt wins, so it is generous; a grant is exact, so it is strict.

The key is computed in SQL over the stored ids (one definition, and records written before this
rule are matched by it too). Ids made of ASCII only (nearly all) take a fast path; the fold
table applies to the rest, through a function every workbench connection registers.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from ..errors import UsageError
from .text import LINE_BREAKING
from ..pii.confusables import ascii_lookalikes
from ..pii.lazy import build_once

# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt): invisible when rendered.
IGNORABLE_RANGES = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
                    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
                    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
                    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
_IGNORABLE = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in IGNORABLE_RANGES) + "]")
ASCII_SPACE = " \t\n\r\x0b\x0c"
# Code points scanned for single-character NFKC forms: the BMP and the blocks of styled letters
# and digits (mathematical alphanumerics, enclosed and segmented digits).
_SCANNED = ((0x80, 0xD800), (0xE000, 0x10000), (0x1D400, 0x1D800), (0x1F100, 0x1F200), (0x1FBF0, 0x1FBFA))


def canonical(value) -> str:
    """The canonical form of one id (see the module docstring); "" for a blank one."""
    text = unicodedata.normalize("NFKC", str(value))
    return _IGNORABLE.sub("", text).strip()


def canonical_series(ids: pd.Series) -> pd.Series:
    """`canonical` over a Series of ids (computed once per distinct value); blanks become NaN,
    so a reader's "blank id" check sees them."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    fixed = np.array([canonical(u) or np.nan for u in uniques], dtype=object)
    out = np.full(len(codes), np.nan, dtype=object)
    present = codes >= 0
    out[present] = fixed[codes[present]] if len(fixed) else np.nan
    return pd.Series(out, index=ids.index, dtype=object)


# An id longer than this is not an id (a column mixed up, a cell holding a whole record).
MAX_ID_CHARS = 256
# A line break of any kind or a control character inside an id (trimmed at the ends already) is
# a broken cell, and would break every one-line message and report that names the id.
_CONTROL = LINE_BREAKING


def malformed(ids: pd.Series) -> tuple[str, np.ndarray] | None:
    """The first rule canonical `ids` break, and the positions that break it; None if none:
    a control character inside an id, or more than MAX_ID_CHARS characters. Blanks are the
    callers' (they say what needs an id)."""
    text = ids.astype("string")
    for problem, broken in (("a control character (a line break, a tab) inside an id; an id is one line",
                             text.str.contains(_CONTROL.pattern, regex=True)),
                            (f"an id longer than {MAX_ID_CHARS} characters", text.str.len() > MAX_ID_CHARS)):
        rows = np.flatnonzero(broken.fillna(False).to_numpy(dtype=bool))
        if len(rows):
            return problem, rows
    return None


def subject_id(value: str) -> str:
    """The id a data-subject command was given, in canonical form; UsageError when blank or
    malformed (the rules of `malformed`)."""
    cid = canonical(value)
    if not cid:
        raise UsageError(f"--customer {value!r}: a blank customer id; give the id as stored")
    bad = malformed(pd.Series([cid]))
    if bad:
        raise UsageError(f"--customer {value[:40]!r}: {bad[0]}")
    return cid


@build_once
def fold_map() -> dict[int, str]:
    """code point -> what the match key turns it into ("" = dropped). Non-ASCII only.

    Stored ids are NFKC already, and NFKC can turn a look-alike into a letter that no longer looks
    like the original (`Ϲ` U+03F9, a confusable of `C`, becomes `Σ`). So the key of a character
    is its look-alike letter taken both before and after NFKC: a character folds to the ASCII
    letter it imitates, its NFKC form folds to that letter too (`Σ` keys as `c`), and otherwise
    the NFKC form's own look-alike letter applies."""
    confusable = ascii_lookalikes()
    table: dict[int, str] = {}
    for cp, target in confusable.items():  # raw form first
        table[cp] = target
        nfkc = unicodedata.normalize("NFKC", chr(cp))
        if len(nfkc) == 1 and not nfkc.isascii():  # ... and what the store keeps of it
            table.setdefault(ord(nfkc), target)
    for lo, hi in _SCANNED:
        for cp in range(lo, hi):
            if cp in table:
                continue
            char = chr(cp)
            if char.isspace():
                table[cp] = " "
                continue
            nfkc = unicodedata.normalize("NFKC", char)
            target = nfkc if len(nfkc) == 1 else char
            target = confusable.get(ord(target), target) if len(target) == 1 else target
            if target != char:
                table[cp] = target
    for lo, hi in IGNORABLE_RANGES:
        for cp in range(lo, hi + 1):
            table[cp] = ""
    return table


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _char_class(code_points: list[int]) -> str:
    """An RE2 character class of code points, written with \\x{...} escapes (the SQL stays ASCII)."""
    points, parts, i = sorted(code_points), [], 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        parts.append(f"\\x{{{points[i]:X}}}" + (f"-\\x{{{points[j]:X}}}" if j > i else ""))
        i = j + 1
    return "[" + "".join(parts) + "]"


# The SQL functions of this module, registered on every connection the workbench opens
# (`register_sql_functions`, called by db.connect): CANONICAL_FUNCTION, the canonical form, and
# FOLD_FUNCTION, the fold of look-alike characters (the slow path of the match key). In pure SQL the fold table is some eighty regular expressions over thousands of
# code points, which DuckDB compiles again for every query -- about 0.1 s per query whatever its
# size, so a tiny erasure took seconds. Here the table is built once per process and applies
# only to the rare ids that hold a foldable character.
FOLD_FUNCTION = "workbench_id_fold"
CANONICAL_FUNCTION = "workbench_canonical_id"


@build_once
def _fold_table() -> dict[int, str]:
    """str.translate table: every look-alike to the (lower-case) ASCII it imitates, or dropped.
    Sources are non-ASCII and targets ASCII, so one pass equals folding target by target."""
    return {cp: target.lower() for cp, target in fold_map().items() if target == "" or target.isascii()}


def fold(text: str | None) -> str | None:
    """The fold of the match key: each look-alike character replaced by its ASCII letter or digit."""
    return None if text is None else text.translate(_fold_table())


def register_sql_functions(con) -> None:
    """Make `canonical` and the match key's fold callable in SQL on `con`, a new DuckDB
    connection (once). Both are for the rare non-ASCII values: queries take an SQL fast path first."""
    con.create_function(FOLD_FUNCTION, fold, ["VARCHAR"], "VARCHAR", side_effects=False)
    con.create_function(CANONICAL_FUNCTION, canonical, ["VARCHAR"], "VARCHAR", side_effects=False)


@build_once
def _sql_template() -> str:
    """The match key as SQL with `{x}` for the id. Ids that are ASCII, or hold no foldable
    character, take the fast path (lower-casing); the rest go through FOLD_FUNCTION."""
    foldable = [cp for cp, target in fold_map().items() if target == "" or target.isascii()]
    # Folded before lower-casing (lower-casing first turns `Σ`, NFKC of the C look-alike `Ϲ`, into
    # `σ`, an o look-alike), and again after it (a capital whose small letter is the look-alike).
    folded = f"{FOLD_FUNCTION}(lower({FOLD_FUNCTION}({{x}})))"
    space = " || ".join(f"chr({ord(c)})" for c in ASCII_SPACE)
    any_foldable = _literal(_char_class(foldable))
    key = (f"(CASE WHEN strlen({{x}}) = length({{x}}) OR NOT regexp_matches({{x}}, {any_foldable}) "
           f"THEN lower(trim({{x}}, {space})) ELSE trim({folded}, {space}) END)")
    # Whatever wraps the id is not part of it: quotes, brackets, a full stop typed after it
    # (`"C7001"`, `[C7001]`, `C7001.`) -- any run of characters that are neither letters nor digits
    # at either end.
    return f"regexp_replace({key}, '^[^\\pL\\pN]+|[^\\pL\\pN]+$', '', 'g')"


def match_key_sql(expr: str) -> str:
    """SQL expression: the match key of the id in `expr` (an SQL expression without parameters;
    it appears several times). ASCII ids and ids without a foldable character take the fast path."""
    return _sql_template().replace("{x}", expr)


def match_key_of_param_sql() -> str:
    """SQL expression with ONE bound parameter (an id): its match key."""
    return f"(SELECT {match_key_sql('_id.v')} FROM (SELECT CAST(? AS VARCHAR) AS v) _id)"
