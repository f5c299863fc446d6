"""Tamper-evident audit log: hash-chained events in DuckDB, per-run manifests, row digests.

Each row's hash is sha256(prev_hash + canonical JSON of the row's fields). Changing, deleting,
reordering or truncating rows breaks the chain or its agreement with a run's manifest, which
records the chain head at the end of that run plus the sha256 of every artefact.

The chain also commits to what governance relies on but lives outside it: every stage commit
records a digest of the rows it wrote to the governed tables (`rows_committed` events), and
every run seals the sha256 of its artefacts (`artefacts_sealed`). `verification.py` recomputes
all of it; `signing.py` signs and exports chain heads so a rewrite of the whole chain shows.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import duckdb
import pandas as pd

from . import db

GENESIS = "0" * 64
_ROW_FIELDS = ("seq", "ts", "run_id", "stage", "event_type", "status", "subject_ref", "details")

# Tables whose rows the chain commits to, per run (each has a run_id column). Customers and
# feedback are the current snapshot of the inputs, committed to by the ingest's input sha256.
GOVERNED_TABLES = ("predictions", "actions", "feedback_analysis", "llm_egress", "consent")
# Event types verify relies on. An erasure (`subject_erased`, or any event that declares them)
# holds `removed_row_hashes` and `added_row_hashes`: {table: {run_id: [row hash, ...]}}, the rows
# it deleted or rewrote and the rows it wrote in their place, so each run's digest still verifies.
ROWS_COMMITTED = "rows_committed"
ARTEFACTS_SEALED = "artefacts_sealed"
SUBJECT_ERASED = "subject_erased"
REMOVED_ROW_HASHES = "removed_row_hashes"
ADDED_ROW_HASHES = "added_row_hashes"


def canonical_json(value) -> str:
    """Key-sorted, compact JSON: the one serialisation that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def row_hash(prev_hash: str, row: dict) -> str:
    payload = canonical_json({k: row[k] for k in _ROW_FIELDS})
    return sha256_hex(prev_hash + payload)


@dataclass
class AuditLog:
    """Buffers events in memory; `flush` chains and writes them in one batched insert."""

    run_id: str
    stage: str
    pending: list[dict] = field(default_factory=list)

    def event(self, event_type: str, status: str = "ok", subject_ref: str | None = None, **details) -> None:
        self.pending.append(dict(
            ts=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            run_id=self.run_id, stage=self.stage, event_type=event_type, status=status,
            subject_ref=subject_ref, details=canonical_json(details),
        ))

    def subject_events(self, event_type: str, status: str, subject_refs: Iterable[str], **details) -> None:
        """One event per subject (e.g. each customer excluded by consent)."""
        for ref in subject_refs:
            self.event(event_type, status, ref, **details)

    def flush(self, con: duckdb.DuckDBPyConnection) -> int:
        """Append pending events to audit_log, continuing the chain. Call inside the stage transaction."""
        if not self.pending:
            return 0
        last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0], last[1]) if last else (0, GENESIS)
        rows = []
        for event in self.pending:
            seq += 1
            row = dict(event, seq=seq)
            row["prev_hash"] = prev
            row["hash"] = prev = row_hash(prev, row)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=[*_ROW_FIELDS, "prev_hash", "hash"])
        db.insert_df(con, "audit_log", frame)
        written = len(rows)
        self.pending.clear()
        return written


def chain_head(con: duckdb.DuckDBPyConnection) -> dict:
    """The newest row: seq, hash and the run it belongs to (what a signed head commits to)."""
    row = con.execute("SELECT seq, hash, run_id FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return {"seq": int(row[0]), "hash": row[1], "run_id": row[2]} if row else {"seq": 0, "hash": GENESIS, "run_id": None}


# --- row digests ------------------------------------------------------------------------------
# A row's hash is sha256 of DuckDB's JSON of the row (`to_json(t)`: every column, in table order,
# NULLs included), computed in SQL so a million rows cost no Python loop. Each commit records the
# columns it hashed; verify hashes exactly those, so a column added to a table later does not
# change the hashes of old rows.

def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The table's columns in table order (the order `to_json(t)` uses)."""
    names = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
        "ORDER BY ordinal_position", [table]).fetchall()]
    if not names:
        raise ValueError(f"table {table} does not exist")
    return names


def row_hash_sql(con: duckdb.DuckDBPyConnection, table: str, alias: str = "t", columns: Iterable[str] | None = None) -> str:
    """SQL expression: the sha256 (hex) of one row of `table` referenced as `alias`; equal to
    `sha256(CAST(to_json(t) AS VARCHAR))` when `columns` are the table's current columns."""
    cols = list(columns) if columns is not None else columns_of(con, table)
    fields = ", ".join(f"{db.literal(c)}: {alias}.{db.ident(c)}" for c in cols)
    return f"sha256(CAST(to_json({{{fields}}}) AS VARCHAR))"


def row_hashes(con: duckdb.DuckDBPyConnection, table: str, where_sql: str = "true", params: list | tuple = (),
               columns: Iterable[str] | None = None) -> list[str]:
    """Per-row sha256 of the rows of `table` matching `where_sql` (bound `params`), as verify computes them.

    An erasure calls this before deleting (or rewriting) rows and declares the hashes in its audit
    event (`removed_row_hashes` / `added_row_hashes`), so the run's digest still verifies.
    """
    sql = f"SELECT {row_hash_sql(con, table, columns=columns)} FROM {db.ident(table)} t WHERE {where_sql}"
    return [r[0] for r in con.execute(sql, list(params)).fetchall()]


def digest_of(hashes: Iterable[str]) -> str:
    """The digest of a multiset of row hashes: sha256 of the sorted hashes joined by newlines."""
    return sha256_hex("\n".join(sorted(hashes)))


def _hash_frame(con, name: str, per_run: dict[str, Iterable[str]]) -> bool:
    rows = [(r, str(h)) for r, hashes in per_run.items() for h in hashes]
    if not rows:
        return False
    con.register(name, pd.DataFrame(rows, columns=["run_id", "h"]))
    return True


def table_digests(con: duckdb.DuckDBPyConnection, table: str, run_ids: Iterable[str] | None = None,
                  removed: dict[str, Iterable[str]] | None = None, added: dict[str, Iterable[str]] | None = None,
                  columns: Iterable[str] | None = None) -> dict[str, dict]:
    """{run_id: {"rows", "sha256", "missing_added"}}: the digest of each run's rows in `table`,
    counting the hashes in `removed[run]` (rows erased since) and not those in `added[run]` (rows
    an erasure wrote in their place): digest_of((current + removed) - added), as multisets.
    `missing_added` counts declared added hashes that are not there (a rewritten row deleted).
    `run_ids` None: every run with rows; otherwise exactly those runs. One query."""
    where, params = "", []
    if run_ids is not None:
        run_ids = list(run_ids)
        where, params = "WHERE list_contains(?, t.run_id)", [run_ids]
    has_removed = _hash_frame(con, "_removed_hashes", removed or {})
    has_added = _hash_frame(con, "_added_hashes", added or {})
    rows = f"SELECT t.run_id, {row_hash_sql(con, table, columns=columns)} AS h FROM {db.ident(table)} t {where}"
    if has_removed:
        rows += " UNION ALL SELECT CAST(run_id AS VARCHAR), CAST(h AS VARCHAR) FROM _removed_hashes"
    kept = "SELECT run_id, h FROM x"
    if has_added:
        kept += " EXCEPT ALL SELECT CAST(run_id AS VARCHAR), CAST(h AS VARCHAR) FROM _added_hashes"
    try:
        found = {run: {"rows": int(n), "sha256": digest, "missing_added": 0} for run, n, digest in con.execute(
            f"""WITH x AS ({rows}), kept AS ({kept})
                SELECT run_id, count(*), sha256(coalesce(string_agg(h, chr(10) ORDER BY h), '')) FROM kept
                GROUP BY run_id""", params).fetchall()}
        if has_added:
            # Every added hash must have been there to take away: (current + removed) contains added.
            for run, n in con.execute(
                    f"""WITH x AS ({rows}) SELECT run_id, count(*) FROM
                        (SELECT CAST(run_id AS VARCHAR) AS run_id, CAST(h AS VARCHAR) AS h FROM _added_hashes
                         EXCEPT ALL SELECT run_id, h FROM x) GROUP BY run_id""", params).fetchall():
                found.setdefault(run, {"rows": 0, "sha256": digest_of(()), "missing_added": 0})["missing_added"] = int(n)
    finally:
        if has_removed:
            con.unregister("_removed_hashes")
        if has_added:
            con.unregister("_added_hashes")
    if run_ids is None:
        return found
    return {r: found.get(r, {"rows": 0, "sha256": digest_of(()), "missing_added": 0}) for r in run_ids}


def table_digest(con: duckdb.DuckDBPyConnection, table: str, run_id: str, removed: Iterable[str] = (),
                 added: Iterable[str] = ()) -> str:
    """sha256 over the sorted row hashes of `run_id`'s rows in `table`, plus `removed`, minus `added`."""
    return table_digests(con, table, [run_id], {run_id: removed}, {run_id: added})[run_id]["sha256"]


def run_row_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Rows `run_id` has in each governed table (that exists)."""
    return {t: con.execute(f"SELECT count(*) FROM {db.ident(t)} WHERE run_id = ?", [run_id]).fetchone()[0]
            for t in GOVERNED_TABLES if db.table_exists(con, t)}


def record_digests(con: duckdb.DuckDBPyConnection, log: "AuditLog", run_id: str, tables: Iterable[str]) -> dict:
    """Add a `rows_committed` event to `log` with the digest of `run_id`'s rows in each of `tables`.

    Call inside the transaction that wrote the rows, before `log.flush`: the chain then commits
    to exactly what was written. Details: {"digests": {table: {run_id: {"rows", "sha256"}}},
    "columns": {table: [the columns hashed, in table order]}}.
    """
    tables = [t for t in GOVERNED_TABLES if t in set(tables) and db.table_exists(con, t)]
    if not tables:
        return {}
    columns = {t: columns_of(con, t) for t in tables}
    digests = {t: {r: {"rows": d["rows"], "sha256": d["sha256"]}
                   for r, d in table_digests(con, t, [run_id], columns=columns[t]).items()} for t in tables}
    log.event(ROWS_COMMITTED, digests=digests, columns=columns)
    return digests


def artefact_hashes(artefacts: dict[str, Path], recorded_as: Callable[[Path], str] = str) -> dict[str, dict]:
    """{name: {"path", "sha256"}} for each artefact file: what a run seals and its manifest lists.
    `recorded_as` turns a file into the path that is written down (the workspace's relative path,
    so a copied workspace is checked against its own files)."""
    return {name: {"path": recorded_as(path), "sha256": file_sha256(path)} for name, path in sorted(artefacts.items())}


def write_manifest(run_dir: str | Path, run_id: str, head: dict, hashed: dict[str, dict]) -> Path:
    """Record the chain head and the sha256 of each artefact (`hashed`, from `artefact_hashes`, so
    the manifest lists exactly what the chain sealed)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "run_id": run_id,
        "chain_head": head,
        "artefacts": hashed,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = run_dir / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written manifest
    return path
