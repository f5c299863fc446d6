"""Right to erasure (Art. 17): remove one customer from every table and the dashboard snapshot,
keep their id out of later imports (tombstone), and shred their pseudonym, in a way the audit
chain still verifies.

Order matters:
1. under the pipeline lock (no stage may write meanwhile), compute the customer's ref and the
   per-row hashes of every digested row that will be removed or rewritten;
2. one transaction: delete/redact the rows, add the tombstone, append ONE `subject_erased` audit
   event declaring `removed_row_hashes` / `added_row_hashes` ({table: {run_id: [hash]}}), so
   `verify` can recompute each run's digest as sorted((current - added) | removed);
3. after the commit, destroy the per-subject secret (refs can no longer be linked to the person)
   and republish the dashboard snapshot, removing older generations that still show the person.

The model artefact holds no per-customer rows (coefficients / trees, and a model card with
aggregates); the next train run reads the customers table without the person.
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .. import db
from ..audit import AuditLog
from ..config import Settings
from ..errors import UsageError, WorkbenchError
from ..pseudonyms import SubjectRefs
from .. import wiring
from . import tombstones
from .holdings import BY_CUSTOMER_ID, DIGESTED_TABLES, egress_hits, holds_anything, operation_id, row_hashes, where_customer


def forget(settings: Settings, customer_id: str, republish: bool = True) -> dict:
    """Erase `customer_id`. Raises UsageError (exit 2) if nothing is held about them."""
    cid = str(customer_id)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet, nothing to erase")
    refs = SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)
    ws = wiring.open_workspace(settings)
    with ws.lock(wait=False):
        with ws.session() as con:
            held = holds_anything(con, cid)
            has_secret = refs.known([cid])[0]
            if not held and not has_secret:
                state = "already erased" if tombstones.is_tombstoned(con, refs, cid) else "unknown customer"
                raise UsageError(f"customer {cid}: no data held about this customer ({state})")
            ref = refs.ref(cid)  # computed before the secret is destroyed: it names the erasure event
            summary = _erase_rows(con, refs, cid, ref) if held else {"removed_rows": {}, "egress_redacted": 0}
        compact(settings.db_path)
        destroyed = refs.forget([cid])
        # A fresh snapshot without the person; older generations (which still show them) go at once.
        snapshot = ws.changed(drop_old=True) if republish else None
        if republish and snapshot is None:  # the erasure stands; say what is left to do
            raise WorkbenchError(f"customer {cid} erased, but the dashboard snapshot was not republished; "
                                 "the next pipeline run republishes it")
    return {"customer_id": cid, "subject_ref": ref, **summary, "secrets_destroyed": destroyed,
            "snapshot": str(snapshot) if snapshot else None}


def _erase_rows(con, refs: SubjectRefs, cid: str, ref: str) -> dict:
    present = {t for t in (*BY_CUSTOMER_ID, "consent", "llm_egress", "analysis_cache") if db.table_exists(con, t)}
    removed: dict[str, dict[str, list[str]]] = {}
    for table in DIGESTED_TABLES:
        if table in present and table != "llm_egress":
            hashes = row_hashes(con, table, where_customer(table), [cid])
            if hashes:
                removed[table] = hashes
    hits = [h for h in egress_hits(con, cid) if set(h.mine) - set(h.shared)]
    added: dict[str, dict[str, list[str]]] = {}
    cache_keys = [r[0] for r in con.execute(
        "SELECT DISTINCT cache_key FROM feedback_analysis WHERE customer_id = ? AND cache_key IS NOT NULL", [cid]).fetchall()]
    counts = {table: con.execute(f"SELECT count(*) FROM {db.ident(table)} WHERE {where_customer(table)}", [cid]).fetchone()[0]
              for table in (*BY_CUSTOMER_ID, "consent") if table in present}
    egress_where = "request_id = ? AND run_id = ? AND stage = ?"
    with db.transaction(con):
        for hit in hits:
            key = [hit.request_id, hit.run_id, hit.stage]
            for run_id, hs in row_hashes(con, "llm_egress", egress_where, key).items():
                removed.setdefault("llm_egress", {}).setdefault(run_id, []).extend(hs)
            con.execute(f"UPDATE llm_egress SET payload = ? WHERE {egress_where}", [hit.redacted_payload(), *key])
            for run_id, hs in row_hashes(con, "llm_egress", egress_where, key).items():
                added.setdefault("llm_egress", {}).setdefault(run_id, []).extend(hs)
        # Cached answers about the customer's texts (other customers with the same text simply get a fresh analysis).
        if cache_keys and "analysis_cache" in present:
            counts["analysis_cache"] = con.execute("DELETE FROM analysis_cache WHERE cache_key IN (SELECT unnest(?))",
                                                   [cache_keys]).fetchone()[0]
        for table in (*BY_CUSTOMER_ID, "consent"):
            if table in present:
                con.execute(f"DELETE FROM {db.ident(table)} WHERE {where_customer(table)}", [cid])
        new_tombstone = tombstones.add(con, refs, cid)
        log = AuditLog(operation_id("subject-erasure"), "subject")
        log.event("subject_erased", "ok", ref, removed_rows={k: int(v) for k, v in counts.items()},
                  egress_requests_redacted=len(hits), tombstone_added=new_tombstone,
                  removed_row_hashes={t: {r: sorted(h) for r, h in v.items()} for t, v in removed.items()},
                  added_row_hashes={t: {r: sorted(h) for r, h in v.items()} for t, v in added.items()})
        log.flush(con)
    return {"removed_rows": {k: int(v) for k, v in counts.items()}, "egress_redacted": len(hits),
            "tombstone_added": new_tombstone}


def compact(db_path: Path) -> None:
    """Rewrite the database file so deleted rows are gone from it, not only from its tables.

    DuckDB leaves deleted values in the file's blocks (even after a checkpoint), where a byte
    scan of the file would still find them. Copying every table into a new file and replacing
    the old one atomically leaves only live rows. Call it holding the pipeline lock and no
    connection; the dashboard reads its snapshot, never this file.
    """
    db_path = Path(db_path)
    tmp = db_path.with_name(f".{db_path.name}.compact-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {db.literal(db_path)} AS old_db")
        con.execute(f"ATTACH {db.literal(tmp)} AS new_db")
        con.execute("COPY FROM DATABASE old_db TO new_db")
        con.execute("DETACH new_db")
        con.execute("DETACH old_db")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, db_path)


