"""The DuckDB store: connections, the one schema migration, and batched writes.

DuckDB lets one process hold the file read-write and then refuses every other process, even
read-only ones. So connections here are short-lived: open, do one unit of work, close.
"""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from .boundary.customer_ids import register_sql_functions
from .boundary.paths import make_private, private_folder
from .errors import DatabaseLocked

SCHEMA_VERSION = 1

# Tables whose shape depends on the input file (customers) are created by the ingest stage.
SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER);
CREATE TABLE IF NOT EXISTS workspace_identity (id VARCHAR, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS customer_columns (
    column_name VARCHAR, role VARCHAR, dtype VARCHAR, run_id VARCHAR, leakage_allowed BOOLEAN);
CREATE TABLE IF NOT EXISTS egress_allow_words (word VARCHAR, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS ingest_log (
    run_id VARCHAR, input_sha256 VARCHAR, ingested_at TIMESTAMP, summary VARCHAR);
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id VARCHAR, customer_id VARCHAR, text VARCHAR, created_at TIMESTAMP,
    channel VARCHAR, text_sha256 VARCHAR, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS consent (
    customer_id VARCHAR, purpose VARCHAR, granted BOOLEAN, recorded_at TIMESTAMP,
    source VARCHAR, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS feedback_analysis (
    run_id VARCHAR, feedback_id VARCHAR, customer_id VARCHAR, anonymized_text VARCHAR,
    sentiment DOUBLE, sentiment_label VARCHAR, topics VARCHAR, summary VARCHAR,
    status VARCHAR, provider VARCHAR, model VARCHAR, prompt_version VARCHAR,
    cache_key VARCHAR, prompt_tokens INTEGER, completion_tokens INTEGER, pii_counts VARCHAR,
    source_sha256 VARCHAR);
-- cache_key is unique by `insert_new_keys` (first answer per key wins), not by a PRIMARY KEY:
-- DuckDB rewrites a table's whole index at the end of every session that adds a row (half a
-- second per session at 100,000 answers), and the journal adds answers as they arrive.
CREATE TABLE IF NOT EXISTS analysis_cache (
    cache_key VARCHAR, result VARCHAR, provider VARCHAR, model VARCHAR,
    prompt_version VARCHAR, created_run_id VARCHAR);
CREATE TABLE IF NOT EXISTS predictions (
    run_id VARCHAR, customer_id VARCHAR, churn_probability DOUBLE, segment VARCHAR,
    drivers VARCHAR, model_version VARCHAR, scored_at TIMESTAMP, features_hash UBIGINT);
CREATE TABLE IF NOT EXISTS actions (
    run_id VARCHAR, customer_id VARCHAR, segment VARCHAR, action_type VARCHAR,
    channel VARCHAR, discount_pct DOUBLE, message VARCHAR, status VARCHAR,
    provider VARCHAR, model VARCHAR, prompt_version VARCHAR, model_version VARCHAR,
    created_at TIMESTAMP, context_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS llm_egress (
    request_id VARCHAR, run_id VARCHAR, stage VARCHAR, provider VARCHAR, model VARCHAR,
    prompt_version VARCHAR, payload VARCHAR, payload_sha256 VARCHAR, n_items INTEGER,
    sent_at TIMESTAMP, outcome VARCHAR, prompt_tokens INTEGER, completion_tokens INTEGER,
    latency_ms DOUBLE, attempts INTEGER);
CREATE TABLE IF NOT EXISTS model_registry (
    model_version VARCHAR, run_id VARCHAR, path VARCHAR, algorithm VARCHAR,
    metrics VARCHAR, card_path VARCHAR, n_train INTEGER, trained_at TIMESTAMP,
    data_sha256 VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR,
    params VARCHAR, llm_provider VARCHAR, error VARCHAR, summary VARCHAR);
CREATE TABLE IF NOT EXISTS stage_runs (
    run_id VARCHAR, stage VARCHAR, status VARCHAR, started_at TIMESTAMP,
    finished_at TIMESTAMP, duration_s DOUBLE, notebook_path VARCHAR, notebook_sha256 VARCHAR,
    summary VARCHAR, error VARCHAR);
-- No PRIMARY KEY on seq: DuckDB rewrites a table's whole index at every checkpoint, i.e. at the
-- end of every short session that appends an event, which cost a second or more per session once
-- the log held 100,000 events and grew with it. seq is unique by construction (one writer process,
-- DuckDB's file lock; `AuditLog.flush` continues from the last row in its transaction) and
-- `verify` proves it: a repeated or missing seq breaks the chain.
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT, ts VARCHAR, run_id VARCHAR, stage VARCHAR, event_type VARCHAR,
    status VARCHAR, subject_ref VARCHAR, details VARCHAR, prev_hash VARCHAR, hash VARCHAR);
CREATE TABLE IF NOT EXISTS tombstones (
    id_hash VARCHAR, created_at DATE, lifted_at DATE, reason VARCHAR);
-- Files the workbench wrote that hold customer data (subjects/registry.py): erasure finds them here.
CREATE TABLE IF NOT EXISTS workspace_files (
    path VARCHAR, kind VARCHAR, subject_hash VARCHAR, sha256 VARCHAR, size BIGINT, written_at TIMESTAMP);
-- Erasures committed whose later steps (files, key, snapshot, proof) have not finished yet.
CREATE TABLE IF NOT EXISTS erasures_pending (id_hash VARCHAR, started_at DATE);
CREATE TABLE IF NOT EXISTS outcomes (
    run_id VARCHAR, customer_id VARCHAR, churned INTEGER, observed_at TIMESTAMP, source VARCHAR,
    source_sha256 VARCHAR, attached_at TIMESTAMP);
"""


def _declared_columns(schema: str) -> dict[str, tuple[str, ...]]:
    tables = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\);", schema, flags=re.S):
        tables[name] = tuple(part.split()[0] for part in body.replace("\n", " ").split(",") if part.strip()
                             and part.split()[0].isidentifier())
    return tables


# Column lists live here, next to the schema they come from: a frame built for a table asks for
# its columns instead of repeating them by hand elsewhere.
_COLUMNS = _declared_columns(SCHEMA)


def columns(table: str) -> list[str]:
    """The columns the schema declares for `table`, in table order."""
    return list(_COLUMNS[table])


def ident(name: str) -> str:
    """The one way a name from data (a column header, a table name) enters SQL: as a quoted
    identifier. Values always travel as bound parameters instead."""
    name = str(name)
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


def literal(value) -> str:
    """A string literal for the few places DuckDB takes no bound parameter (ATTACH, COPY TO paths)."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL literal cannot contain a NUL character")
    return "'" + text.replace("'", "''") + "'"


def connect(path: str | Path, read_only: bool = False, wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the database, retrying for up to `wait_s` seconds while another process holds it."""
    path = Path(path)
    if not read_only:
        private_folder(path.parent)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            register_sql_functions(con)  # the customer-id match key's fold (boundary/customer_ids.py)
            if not read_only:
                # The store holds names, e-mails and phones: its file and write-ahead log are the
                # owner's only, also when an older version or a loose umask created them 0644.
                make_private(path, path.with_name(path.name + ".wal"))
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise DatabaseLocked(
                    f"{path}: the database is in use by another process (close it, or wait for the running pipeline)"
                ) from exc
            time.sleep(0.2)


def in_memory() -> duckdb.DuckDBPyConnection:
    """A private in-memory database (to ATTACH database files or query frames), with the same SQL
    functions as every other workbench connection."""
    con = duckdb.connect(":memory:")
    register_sql_functions(con)
    return con


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet. Safe to call on every connection."""
    con.execute(SCHEMA)
    # Columns added to model_registry later: a database created before them gains them here.
    for column in ("contract_id VARCHAR", "contract VARCHAR", "data_run_id VARCHAR", "decision VARCHAR"):
        con.execute(f"ALTER TABLE model_registry ADD COLUMN IF NOT EXISTS {column}")
    # What an action was chosen from (incremental.action_context_keys), added later too.
    con.execute("ALTER TABLE actions ADD COLUMN IF NOT EXISTS context_sha256 VARCHAR")
    if con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
        con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
    _drop_primary_keys(con)
    # The workspace's identity is created with its database (signed heads name it, not a path).
    if con.execute("SELECT count(*) FROM workspace_identity").fetchone()[0] == 0:
        con.execute("INSERT INTO workspace_identity VALUES ('ws-' || replace(CAST(uuid() AS VARCHAR), '-', ''), now())")


# Tables that lost their primary key (see SCHEMA), and the order their rows are kept in.
_WITHOUT_PRIMARY_KEY = {"audit_log": "seq", "analysis_cache": "rowid"}


def _drop_primary_keys(con: duckdb.DuckDBPyConnection) -> None:
    """A database made before a table lost its primary key gets that table rebuilt without it,
    once (same rows, same order: every hash of the audit chain stays as it was)."""
    tables = [t for (t,) in con.execute(
        "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND constraint_type = 'PRIMARY KEY' AND list_contains(?, table_name)", [list(_WITHOUT_PRIMARY_KEY)]).fetchall()]
    for table in tables:
        rebuilt = ident(table + "_rebuilt")
        with transaction(con):
            con.execute(f"CREATE TABLE {rebuilt} AS SELECT * FROM {ident(table)} ORDER BY {_WITHOUT_PRIMARY_KEY[table]}")
            con.execute(f"DROP TABLE {ident(table)}")
            con.execute(f"ALTER TABLE {rebuilt} RENAME TO {ident(table)}")


@contextlib.contextmanager
def session(path: str | Path, wait_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short read-write connection with the schema in place; closed on exit."""
    con = connect(path, wait_s=wait_s)
    try:
        migrate(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_df(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> int:
    """Append a DataFrame to `table` in one statement, matching columns by name."""
    if df is None or len(df) == 0:
        return 0
    con.register("_insert_frame", df)
    try:
        cols = ", ".join(ident(c) for c in df.columns)
        con.execute(f"INSERT INTO {ident(table)} ({cols}) SELECT {cols} FROM _insert_frame")
    finally:
        con.unregister("_insert_frame")
    return len(df)


def insert_new_keys(con: duckdb.DuckDBPyConnection, table: str, key: str, df: pd.DataFrame) -> int:
    """Append the rows of `df` whose `key` is not in `table` yet (the first row per key wins),
    matching columns by name: a key unique without an index (see SCHEMA). Returns rows added."""
    if df is None or len(df) == 0:
        return 0
    con.register("_new_rows", df.drop_duplicates(key))
    try:
        before = con.execute(f"SELECT count(*) FROM {ident(table)}").fetchone()[0]
        con.execute(f"INSERT INTO {ident(table)} BY NAME SELECT * FROM _new_rows n WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {ident(table)} t WHERE t.{ident(key)} = n.{ident(key)})")
        return con.execute(f"SELECT count(*) FROM {ident(table)}").fetchone()[0] - before
    finally:
        con.unregister("_new_rows")


def workbench_tables() -> set[str]:
    """The tables the workbench itself creates (its schema, and the imported customers)."""
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA)) | {"customers"}


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchone()[0] > 0
