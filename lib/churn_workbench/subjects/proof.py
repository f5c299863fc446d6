"""After an erasure: search everything the workbench keeps for what is left of the customer.

Independent of the erasure's own plan where it can be: every base table with a `customer_id`
column is searched (not a list of known tables), and every text column of any other table the
workbench does not keep itself, for the exact id, the consent register by the erasure's rule for
it, the dashboard snapshot's Parquet files and the exports folder by content. What only the
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
from ..workspace import snapshot_dir_of
from . import exports, tombstones
from .holdings import REDACTED_ITEM, EgressHit, request_items, where_customer


def remaining(settings: Settings, refs: SubjectRefs, cid: str, egress: list[EgressHit], cache_keys: list[str],
              tombstoned: bool) -> list[str]:
    left: list[str] = []
    with db.session(settings.db_path) as con:
        left += _tables(con, cid)
        left += _other_tables(con, cid)
        if cache_keys and db.table_exists(con, "analysis_cache"):
            n = con.execute("SELECT count(*) FROM analysis_cache WHERE cache_key IN (SELECT unnest(?))",
                            [cache_keys]).fetchone()[0]
            if n:
                left.append(f"{n} cached LLM answer(s) about their texts in analysis_cache")
        left += _egress(con, egress)
        if tombstoned and not tombstones.is_tombstoned(con, refs, cid):
            left.append("no tombstone: a later import would take the id in again")
    if refs.known([cid])[0]:
        left.append(f"their pseudonym secret in {refs.store}")
    left += _snapshot(settings, cid)
    left += [f"access export {p}" for p in exports.of_customer(settings, cid)]
    return left


def _tables(con: duckdb.DuckDBPyConnection, cid: str) -> list[str]:
    tables = [r[0] for r in con.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
        "WHERE t.table_type = 'BASE TABLE' AND lower(c.column_name) = 'customer_id' ORDER BY 1").fetchall()]
    left = []
    for table in tables:
        where, params = where_customer(con, table, cid) if table == "consent" else \
            ("CAST(customer_id AS VARCHAR) = ?", [cid])
        n = con.execute(f"SELECT count(*) FROM {db.ident(table)} WHERE {where}", params).fetchone()[0]
        if n:
            left.append(f"{n} row(s) in table {table}")
    return left


def _other_tables(con: duckdb.DuckDBPyConnection, cid: str) -> list[str]:
    """Tables the workbench does not keep (added by hand or another tool) and that have no
    customer_id column: every text column searched for the exact id, so the proof does not claim
    the store is clean while such a table still names the customer."""
    ours = db.workbench_tables()
    text_columns: dict[str, list[str]] = {}
    with_id: set[str] = set()  # searched by _tables
    for table, column, kind in con.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c JOIN "
            "information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
            "WHERE t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position").fetchall():
        if column.lower() == "customer_id":
            with_id.add(table)
        elif kind == "VARCHAR":
            text_columns.setdefault(table, []).append(column)
    left = []
    for table, names in text_columns.items():
        if table in ours or table in with_id:
            continue
        for column in names:
            n = con.execute(f"SELECT count(*) FROM {db.ident(table)} WHERE trim({db.ident(column)}) = ?",
                            [cid]).fetchone()[0]
            if n:
                left.append(f"{n} row(s) in table {table} (column {column}, not a workbench table) naming the id")
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
    con = duckdb.connect(":memory:")
    try:
        for path in sorted(current.glob("*.parquet")):
            source = f"read_parquet({db.literal(path)})"
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            for column in (c for c in columns if c.lower() == "customer_id"):
                n = con.execute(f"SELECT count(*) FROM {source} WHERE CAST({db.ident(column)} AS VARCHAR) = ?",
                                [cid]).fetchone()[0]
                if n:
                    left.append(f"{n} row(s) in the dashboard snapshot {Path(path).name}")
    finally:
        con.close()
    return left
