"""After an erasure: search everything the workbench keeps for what is left of the customer.

Independent of the erasure's own plan where it can be: every text column of every base table
(not a list of known tables) is searched in canonical form (traces.py) -- a `customer_id` column
for the id as its whole value, any other for the id as a word inside it --, the consent register
by the erasure's look-alike rule, the dashboard snapshot's Parquet files the same way as tables,
and every file the workbench recorded writing (registry.py): the customer's exports must be gone
and the shared files (outcomes) must hold no row of theirs. What only the
plan can name (the LLM requests that carried the customer's items, the cached answers about
their texts, found through rows that are gone now) is re-read and checked item by item.
Returns one line per place that still holds something; empty means erased.
"""
from __future__ import annotations

import json
from pathlib import Path

import duckdb

from .. import db
from ..config import Settings
from ..dashboard import publish
from ..pseudonyms import SubjectRefs
from ..workspace import Workspace, snapshot_dir_of
from . import registry, tombstones, traces
from .holdings import REDACTED_ITEM, EgressHit, request_items, where_customer


def checked() -> str:
    """What `remaining` searched, in words (what forget prints after "checked:")."""
    return ("every text column of every table in the store, in canonical form (NFKC, invisible characters "
            "removed, trimmed): no customer_id value equal to their id, no other text value holding it as a "
            "word; the consent register also for look-alike ids; the LLM cache and requests; the key store; "
            "the tombstone; the dashboard snapshot (every text column); every file the workbench wrote into "
            "the exports folder and the outcomes folder, by its record (their name or e-mail in tables, and files the "
            "workbench did not write, were not searched)")


def remaining(settings: Settings, refs: SubjectRefs, cid: str, egress: list[EgressHit],
              cache_keys: list[str], tombstoned: bool) -> list[str]:
    """One line per place that still holds something of the customer."""
    left: list[str] = []
    with db.session(settings.db_path) as con:
        left += _tables(con, cid)
        if cache_keys and db.table_exists(con, "analysis_cache"):
            n = con.execute("SELECT count(*) FROM analysis_cache WHERE cache_key IN (SELECT unnest(?))",
                            [cache_keys]).fetchone()[0]
            if n:
                left.append(f"{n} cached LLM answer(s) about their texts in analysis_cache")
        left += _egress(con, egress)
        if tombstoned and not tombstones.is_tombstoned(con, refs, cid):
            left.append("no tombstone: a later import would take the id in again")
        left += registry.remaining(con, Workspace(settings), refs, cid)
    if refs.known([cid])[0]:
        left.append(f"their pseudonym secret in {refs.store}")
    left += _snapshot(settings, cid)
    return left


def _tables(con: duckdb.DuckDBPyConnection, cid: str) -> list[str]:
    """Every base table, in every schema: a `customer_id` column whose canonical value is the id
    (the consent register by the erasure's look-alike rule instead), and every other text column
    holding the id as a token of its canonical text (traces.py)."""
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, kind in con.execute(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
            "AND t.table_catalog = c.table_catalog WHERE t.table_type = 'BASE TABLE' AND t.table_catalog = "
            "current_database() ORDER BY 1, 2, c.ordinal_position").fetchall():
        columns.setdefault((schema, table), []).append((column, kind))
    left = []
    for (schema, table), cols in columns.items():
        source = f"{db.ident(schema)}.{db.ident(table)}"
        name = table if schema == "main" else f"{schema}.{table}"
        by_column = {column: column.lower() == "customer_id" for column, kind in cols if traces.is_text_type(kind)}
        if table == "consent" and schema == "main":
            where, params = where_customer(con, table, cid)  # also the look-alike ids a withdrawal matches
            n = con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()[0]
            if n:
                left.append(f"{n} row(s) in table {name}")
            by_column = {c: by_id for c, by_id in by_column.items() if not by_id}
        for column, n in traces.rows_naming(con, source, by_column, cid).items():
            if n:
                left.append(f"{n} row(s) in table {name}" + ("" if by_column[column] else f" (column {column}) naming the id"))
    return left


def _egress(con: duckdb.DuckDBPyConnection, hits: list[EgressHit]) -> list[str]:
    left = []
    for hit in hits:
        row = con.execute("SELECT payload FROM llm_egress WHERE request_id = ? AND run_id = ? AND stage = ?",
                          [hit.request_id, hit.run_id, hit.stage]).fetchone()
        if row is None or row[0] is None:
            continue  # the row is gone or its payload purged: nothing of theirs in it
        try:
            items = request_items(json.loads(row[0])) or []
        except ValueError:
            items = []
        own = [i for i in hit.mine if i not in hit.shared]
        if any(i >= len(items) or items[i].get("redacted") != REDACTED_ITEM for i in own):
            left.append(f"their item in LLM request {hit.request_id} (run {hit.run_id}) in llm_egress")
    return left


def _snapshot(settings: Settings, cid: str) -> list[str]:
    base = snapshot_dir_of(settings.db_path)
    if not base.is_dir():
        return []
    current = publish.current_generation(base)
    left = [f"an older dashboard snapshot {p}" for p in sorted(base.iterdir())
            if p.is_dir() and p != current and p.name.startswith(("gen-", ".building-"))]
    if current is None or not current.is_dir():
        return left
    con = db.in_memory()
    try:
        for path in sorted(current.glob("*.parquet")):
            source = f"read_parquet({db.literal(path)})"
            kinds = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall()
            counts = traces.rows_naming(con, source, {c: c.lower() == "customer_id" for c, kind in kinds
                                                      if traces.is_text_type(kind)}, cid)
            n = max(counts.values(), default=0)
            if n:
                left.append(f"{n} row(s) in the dashboard snapshot {Path(path).name}")
    finally:
        con.close()
    return left
