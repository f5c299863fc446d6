"""Right to erasure (Art. 17): remove one customer from every table and the dashboard snapshot,
keep their id out of later imports (tombstone), and shred their pseudonym, in a way the audit
chain still verifies -- then prove it (proof.py) before saying so.

Order matters:
1. under the pipeline lock (no stage may write meanwhile), resolve the id (canonical form, held
   under exactly that id: a look-alike id is another customer), and plan: the rows per table,
   the LLM requests to redact, the cached answers, and the per-row hashes of every digested row
   that will be removed or rewritten;
2. one transaction: delete/redact the rows, add the tombstone, append ONE `subject_erased` audit
   event declaring `removed_row_hashes` / `added_row_hashes` ({table: {run_id: [hash]}}), so
   `verify` can recompute each run's digest as sorted((current - added) | removed);
3. after the commit, rewrite the database file, destroy the per-subject secret (refs can no
   longer be linked to the person), remove every file below the exports folder whose content
   names the customer (traces.py), and republish the dashboard snapshot, removing older
   generations that still show the person;
4. prove it: every table, the analysis cache, the LLM requests, the key store, the tombstones,
   the snapshot and the exports folder are searched again for the customer, ids in canonical
   form and files by content (traces.py). Anything left is an error (exit 1) naming it;
   "erased" is reported only when nothing is.

The model artefact holds no per-customer rows (coefficients / trees, and a model card with
aggregates); the next train run reads the customers table without the person.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .. import db
from ..audit import AuditLog
from ..boundary.customer_ids import subject_id
from ..config import Settings
from ..errors import ErasureIncomplete, UsageError
from ..pseudonyms import SubjectRefs
from .. import wiring
from . import exports, proof, tombstones, traces
from .identify import resolve
from .holdings import (
    BY_CUSTOMER_ID,
    DIGESTED_TABLES,
    EgressHit,
    consent_kept_in_doubt,
    egress_hits,
    operation_id,
    row_hashes,
    rows_held,
    where_customer,
)


@dataclass
class ErasurePlan:
    """What erasing one customer removes or rewrites."""
    customer_id: str
    rows: dict[str, int] = field(default_factory=dict)       # table -> rows to delete
    egress: list[EgressHit] = field(default_factory=list)     # requests carrying their own items
    cache_keys: list[str] = field(default_factory=list)       # cached LLM answers about their texts
    consent_kept: int = 0                                      # look-alike records that stay (fail closed)
    exports: list[Path] = field(default_factory=list)         # files below the exports folder naming them

    @property
    def holds_rows(self) -> bool:
        return any(self.rows.values())

    def describe(self) -> dict:
        return {"customer_id": self.customer_id, "rows": {t: n for t, n in self.rows.items() if n},
                "egress_requests_redacted": len(self.egress), "cached_answers": len(self.cache_keys),
                "consent_kept_in_doubt": self.consent_kept, "exports": [str(p) for p in self.exports]}


def plan(con: duckdb.DuckDBPyConnection, cid: str, settings: Settings, found_by: traces.Traces) -> ErasurePlan:
    """What `forget` would remove (also what `--dry-run` prints). `found_by`: what names the
    customer in the files of the exports folder."""
    cache_keys = [r[0] for r in con.execute(
        "SELECT DISTINCT cache_key FROM feedback_analysis WHERE customer_id = ? AND cache_key IS NOT NULL", [cid]).fetchall()]
    if cache_keys and db.table_exists(con, "analysis_cache"):
        cache_keys = [r[0] for r in con.execute("SELECT cache_key FROM analysis_cache WHERE cache_key IN (SELECT unnest(?))",
                                                [cache_keys]).fetchall()]
    else:
        cache_keys = []
    return ErasurePlan(customer_id=cid, rows=rows_held(con, cid),
                       egress=[h for h in egress_hits(con, cid) if set(h.mine) - set(h.shared)],
                       cache_keys=cache_keys, consent_kept=consent_kept_in_doubt(con, cid),
                       exports=exports.of_customer(settings, found_by))


def forget(settings: Settings, customer_id: str, republish: bool = True, dry_run: bool = False) -> dict:
    """Erase `customer_id` and prove it. UsageError (exit 2) if nothing is held under that id;
    ErasureIncomplete (exit 1) naming what is left if the proof finds anything.
    With `dry_run`, only the plan is returned and nothing changes."""
    cid = subject_id(customer_id)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet, nothing to erase")
    refs = SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)
    ws = wiring.open_workspace(settings)
    with ws.lock(wait=False, holder="a subject forget"):
        with ws.session() as con:
            resolve(con, refs, cid)
            # Computed before the secret is destroyed (it names the erasure event), and read with the
            # personal values before the rows go: the files of the exports folder are searched for them.
            ref = refs.ref(cid) if refs.known([cid])[0] else None
            found_by = traces.collect(con, cid, ref)
            todo = plan(con, cid, settings, found_by)
            if dry_run:
                return {"dry_run": True, **todo.describe()}
            ref = ref or refs.ref(cid)
            summary = _erase_rows(con, refs, cid, ref, todo) if todo.holds_rows else \
                {"removed_rows": {}, "egress_redacted": 0, "tombstone_added": False}
        compact(settings.db_path)
        destroyed = refs.forget([cid])
        removed_exports = exports.remove(todo.exports)
        snapshot, problem = None, None
        if republish:
            # A fresh snapshot without the person; older generations (which still show them) go at once.
            snapshot = ws.changed(drop_old=True)
            if snapshot is None:  # the cause was printed by the hook; the proof below reports it too
                problem = "the dashboard snapshot was not republished"
        remaining = proof.remaining(settings, refs, found_by, todo.egress, todo.cache_keys, tombstoned=todo.holds_rows)
    if problem:
        remaining.append(problem)
    if remaining:
        raise ErasureIncomplete(f"customer {cid}: NOT fully erased; still held: {'; '.join(remaining)}. "
                                "Fix the cause and run the same command again")
    return {"customer_id": cid, "subject_ref": ref, **summary, "secrets_destroyed": destroyed,
            "consent_kept_in_doubt": todo.consent_kept, "exports_removed": removed_exports,
            "snapshot": str(snapshot) if snapshot else None, "checked": proof.checked(found_by)}


def _erase_rows(con, refs: SubjectRefs, cid: str, ref: str, todo: ErasurePlan) -> dict:
    present = {t for t in (*BY_CUSTOMER_ID, "consent", "llm_egress", "analysis_cache") if db.table_exists(con, t)}
    removed: dict[str, dict[str, list[str]]] = {}
    where = {t: where_customer(con, t, cid) for t in (*BY_CUSTOMER_ID, "consent") if t in present}
    for table in DIGESTED_TABLES:
        if table in where:
            hashes = row_hashes(con, table, *where[table])
            if hashes:
                removed[table] = hashes
    added: dict[str, dict[str, list[str]]] = {}
    counts = {table: n for table, n in todo.rows.items()}
    egress_where = "request_id = ? AND run_id = ? AND stage = ?"
    with db.transaction(con):
        for hit in todo.egress:
            key = [hit.request_id, hit.run_id, hit.stage]
            for run_id, hs in row_hashes(con, "llm_egress", egress_where, key).items():
                removed.setdefault("llm_egress", {}).setdefault(run_id, []).extend(hs)
            con.execute(f"UPDATE llm_egress SET payload = ? WHERE {egress_where}", [hit.redacted_payload(), *key])
            for run_id, hs in row_hashes(con, "llm_egress", egress_where, key).items():
                added.setdefault("llm_egress", {}).setdefault(run_id, []).extend(hs)
        # Cached answers about the customer's texts (other customers with the same text simply get a fresh analysis).
        if todo.cache_keys and "analysis_cache" in present:
            counts["analysis_cache"] = con.execute("DELETE FROM analysis_cache WHERE cache_key IN (SELECT unnest(?))",
                                                   [todo.cache_keys]).fetchone()[0]
        for table, (condition, params) in where.items():
            con.execute(f"DELETE FROM {db.ident(table)} WHERE {condition}", params)
        new_tombstone = tombstones.add(con, refs, cid)
        log = AuditLog(operation_id("subject-erasure"), "subject")
        log.event("subject_erased", "ok", ref, removed_rows={k: int(v) for k, v in counts.items()},
                  egress_requests_redacted=len(todo.egress), tombstone_added=new_tombstone,
                  consent_kept_in_doubt=todo.consent_kept,
                  removed_row_hashes={t: {r: sorted(h) for r, h in v.items()} for t, v in removed.items()},
                  added_row_hashes={t: {r: sorted(h) for r, h in v.items()} for t, v in added.items()})
        log.flush(con)
    return {"removed_rows": {k: int(v) for k, v in counts.items()}, "egress_redacted": len(todo.egress),
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


