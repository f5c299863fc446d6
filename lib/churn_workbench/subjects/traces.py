"""What identifies one customer, and how erasure and its proof search for it.

The proof must not be fooled by a form of the id the rest of the workbench treats as the same
customer, nor by a file whose name says nothing. So:

* In tables, every text value is compared in **canonical form** (boundary/customer_ids.py:
  NFKC, invisible format characters removed, trimmed): a `customer_id` column holding
  `' C7302 '` or `'C7302<zero-width space>'` holds C7302. Any other text column is searched for
  the id as a **token** inside the canonical text (`'customer C7302 complained'`), not only
  as the whole value; a token is delimited by anything but a letter, digit, `_` or `-` (so
  `C73020` and `C7302-B` are other ids). ASCII values (nearly all) are compared in SQL; only
  the others go through the Python canonical function. One scan per table.
* In the exports folder, every file below it, whatever its name or extension, is read as bytes
  (streamed, so no size limit is needed) and searched by **content** for the customer's
  `Traces`: the id (canonical and look-alike forms: NFKC, case and confusable letters folded),
  their pseudonymous subject ref, and the personal values an export writes (the customer row's
  name, e-mail, phone and other identifier columns, collected before the rows are deleted).
"""
from __future__ import annotations

import codecs
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .. import db
from ..boundary.customer_ids import ASCII_SPACE, canonical, fold_map
from ..vocab import DEFAULT_IDENTIFIER_COLUMNS, IDENTIFIER_ROLES

CANONICAL_UDF = "wb_canonical_id"
# What Python's str.strip() removes from an ASCII string: the canonical form trims exactly that.
_ASCII_STRIP = ASCII_SPACE + "\x1c\x1d\x1e\x1f"
# Personal values shorter than this are not searched in files (an initial would match everywhere).
MIN_VALUE_CHARS = 3
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Traces:
    """What names one customer: their canonical id, pseudonymous ref, and stored personal values."""
    customer_id: str
    subject_ref: str | None = None
    personal: tuple[str, ...] = ()

    def describe(self) -> str:
        kinds = ["their id (any form the import treats as theirs, and look-alikes)"]
        if self.subject_ref:
            kinds.append("their pseudonymous reference")
        if self.personal:
            kinds.append(f"{len(self.personal)} personal value(s) of their customer row (name, e-mail, phone ...)")
        return ", ".join(kinds)


def collect(con: duckdb.DuckDBPyConnection, cid: str, subject_ref: str | None) -> Traces:
    """The customer's traces, read before anything is deleted: the text values of the identifier
    columns (roles name / e-mail / phone / identifier, or columns so named) of their customer row."""
    personal: list[str] = []
    if db.table_exists(con, "customers"):
        columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = 'customers'").fetchall()}
        named = set(DEFAULT_IDENTIFIER_COLUMNS.values())
        if db.table_exists(con, "customer_columns"):
            named |= {r[0] for r in con.execute("SELECT DISTINCT column_name FROM customer_columns WHERE role IN "
                                                "(SELECT unnest(?))", [list(IDENTIFIER_ROLES)]).fetchall()}
        wanted = sorted(c for c in columns if c in named)
        if wanted:
            select = ", ".join(f"CAST({db.ident(c)} AS VARCHAR)" for c in wanted)
            for row in con.execute(f"SELECT {select} FROM customers WHERE customer_id = ?", [cid]).fetchall():
                personal += [v.strip() for v in row if v and len(v.strip()) >= MIN_VALUE_CHARS]
    return Traces(cid, subject_ref, tuple(dict.fromkeys(personal)))


# --- tables -------------------------------------------------------------------------------------

def register_canonical(con: duckdb.DuckDBPyConnection) -> None:
    """Make `wb_canonical_id(text)` (the import's canonical form) callable on this connection."""
    exists = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [CANONICAL_UDF]).fetchone()[0]
    if not exists:
        con.create_function(CANONICAL_UDF, canonical, ["VARCHAR"], "VARCHAR",
                            null_handling="default", side_effects=False)


def token_pattern(value: str) -> re.Pattern:
    """`value` as a token: not inside a longer id (no letter, digit, `_` or `-` on either side)."""
    return re.compile(r"(?<![\w\-])" + re.escape(value) + r"(?![\w\-])")


def rows_naming(con: duckdb.DuckDBPyConnection, source: str, columns: dict[str, bool], cid: str) -> dict[str, int]:
    """column -> rows of `source` (a table or read_parquet(...)) whose value in that column, in
    canonical form, is the id (`columns[column]` true: an id column) or holds it as a token.
    One query for all the columns. ASCII values are canonicalised in SQL (trimmed); only the
    others go through the Python canonical function (CASE evaluates its ELSE branch only for the
    rows that reach it). SQL keeps the distinct canonical values containing the id; the token
    rule is applied to those few in Python. Call register_canonical(con) first."""
    if not columns:
        return {}
    spaces = " || ".join(f"chr({ord(c)})" for c in _ASCII_STRIP)
    parts, params = [], []
    for i, (column, whole_value) in enumerate(columns.items()):
        v = f"CAST({db.ident(column)} AS VARCHAR)"
        canon = f"CASE WHEN strlen({v}) = length({v}) THEN trim({v}, {spaces}) ELSE {CANONICAL_UDF}({v}) END"
        if whole_value:
            parts.append(f"SELECT {i} AS i, NULL AS v, count(*) AS n FROM (SELECT {canon} AS v FROM {source}) WHERE v = ?")
        else:
            parts.append(f"SELECT {i} AS i, v, count(*) AS n FROM (SELECT {canon} AS v FROM {source}) "
                         "WHERE contains(v, ?) GROUP BY v")
        params.append(cid)
    token = token_pattern(cid)
    found = dict.fromkeys(columns, 0)
    names = list(columns)
    for i, value, n in con.execute(" UNION ALL ".join(parts), params).fetchall():
        if value is None or token.search(value):
            found[names[i]] += int(n)
    return found


def is_text_type(data_type: str) -> bool:
    """A column type that holds text (also inside lists and structs, searched as their text form)."""
    return "VARCHAR" in data_type.upper() or data_type.upper() == "JSON"


# --- files ----------------------------------------------------------------------------------------

def _key(text: str) -> str:
    """The look-alike key of some text: NFKC, invisible characters dropped, case and confusable
    letters folded (what a withdrawal matches on, applied to file content)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).translate(fold_map()).lower().translate(fold_map())


def _needles(traces: Traces) -> re.Pattern:
    values = [traces.customer_id, *([traces.subject_ref] if traces.subject_ref else []), *traces.personal]
    keys = sorted({_key(v) for v in values if _key(v).strip()}, key=len, reverse=True)
    # The token rule of token_pattern, for any of them.
    return re.compile(r"(?<![\w\-])(?:" + "|".join(re.escape(k) for k in keys) + r")(?![\w\-])")


def file_holds(path: Path, pattern: re.Pattern, overlap: int) -> bool:
    """Whether the file's bytes (decoded as UTF-8, undecodable bytes replaced; JSON escapes of
    non-ASCII characters read too) hold one of the traces. Streamed in chunks that overlap by
    `overlap` characters, so a trace split across two reads is still found."""
    tail, decoder = "", codecs.getincrementaldecoder("utf-8")("replace")  # a character split across reads stays whole
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            text = tail + _key(decoder.decode(chunk))
            if pattern.search(text) or pattern.search(_unescape(text)):
                return True
            tail = text[-overlap:]
    return False


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(text: str) -> str:
    return _key(_JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)) if "\\u" in text else ""


def files_naming(base: Path, traces: Traces) -> list[Path]:
    """Every regular file below `base` (any depth, any name) whose content holds one of the
    traces. Links are not followed (a link may point outside the workspace)."""
    if not base.is_dir():
        return []
    pattern = _needles(traces)
    overlap = 4 * max(len(traces.customer_id), len(traces.subject_ref or ""), *map(len, traces.personal)) + 16
    found: list[Path] = []
    for root, dirs, files in os.walk(base, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            if path.is_symlink() or not path.is_file():
                continue
            try:
                if file_holds(path, pattern, overlap):
                    found.append(path)
            except OSError:
                found.append(path)  # unreadable: it cannot be shown free of them
    return found
