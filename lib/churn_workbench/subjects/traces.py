"""How erasure's proof searches the tables for one customer.

The proof must not be fooled by a form of the id the rest of the workbench treats as the same
customer. So:

* In tables, every text value is compared in **canonical form** (boundary/customer_ids.py:
  NFKC, invisible format characters removed, trimmed): a `customer_id` column holding
  `' C7302 '` or `'C7302<zero-width space>'` holds C7302. Any other text column is searched for
  the id as a **token** inside the canonical text (`'customer C7302 complained'`), not only
  as the whole value; a token is delimited by anything but a letter, digit, `_` or `-` (so
  `C73020` and `C7302-B` are other ids). ASCII values (nearly all) are compared in SQL; only
  the others go through the Python canonical function. One scan per table.
* Files are not searched by content: the files the workbench writes are found by their record
  (registry.py), and a file it did not write cannot be vouched for by a search.
"""
from __future__ import annotations

import re

import duckdb

from .. import db
from ..boundary.customer_ids import ASCII_SPACE, CANONICAL_FUNCTION

# What Python's str.strip() removes from an ASCII string: the canonical form trims exactly that.
_ASCII_STRIP = ASCII_SPACE + "\x1c\x1d\x1e\x1f"


# --- tables -------------------------------------------------------------------------------------

def token_pattern(value: str) -> re.Pattern:
    """`value` as a token: not inside a longer id (no letter, digit, `_` or `-` on either side)."""
    return re.compile(r"(?<![\w\-])" + re.escape(value) + r"(?![\w\-])")


def rows_naming(con: duckdb.DuckDBPyConnection, source: str, columns: dict[str, bool], cid: str) -> dict[str, int]:
    """column -> rows of `source` (a table or read_parquet(...)) whose value in that column, in
    canonical form, is the id (`columns[column]` true: an id column) or holds it as a token.
    One query for all the columns. ASCII values are canonicalised in SQL (trimmed); only the
    others go through the Python canonical function (CASE evaluates its ELSE branch only for the
    rows that reach it). SQL keeps the distinct canonical values containing the id; the token
    rule is applied to those few in Python."""
    if not columns:
        return {}
    spaces = " || ".join(f"chr({ord(c)})" for c in _ASCII_STRIP)
    parts, params = [], []
    for i, (column, whole_value) in enumerate(columns.items()):
        v = f"CAST({db.ident(column)} AS VARCHAR)"
        canon = f"CASE WHEN strlen({v}) = length({v}) THEN trim({v}, {spaces}) ELSE {CANONICAL_FUNCTION}({v}) END"
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
