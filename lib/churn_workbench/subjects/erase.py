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
   The same transaction marks the erasure pending (`erasures_pending`, a keyed hash);
3. after the commit, rewrite the database file, destroy the per-subject secret (refs can no
   longer be linked to the person), delete the files the workbench wrote for them and cut their
   rows from the files it wrote for many customers -- both found by the record of where
   customer data lives (registry.py), never by searching content --, and republish the
   dashboard snapshot, removing older generations that still show the person. Each step is
   repeatable, so an interrupted forget is completed by running it again;
4. prove it: every table, the analysis cache, the LLM requests, the key store, the tombstones,
   the snapshot and the recorded files are searched again for the customer, ids in canonical
   form (traces.py). Anything left is an error (exit 1) naming it; the pending mark goes only
   when nothing is. Files in the exports and outcomes folders the workbench did not write are
   never read: the result names them (`unvouched`), and the command line does not call the
   customer "erased" while they are there.

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
from ..workspace import Workspace
from .. import wiring
from . import proof, registry, tombstones
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
    exports: list[Path] = field(default_factory=list)         # files the workbench wrote for them (registry.py)
    shared_files: list[Path] = field(default_factory=list)    # recorded files holding a row of theirs
    unvouched: list[Path] = field(default_factory=list)       # files it did not write: named, never read

    @property
    def holds_rows(self) -> bool:
        return any(self.rows.values())

    def describe(self) -> dict:
        return {"customer_id": self.customer_id, "rows": {t: n for t, n in self.rows.items() if n},
                "egress_requests_redacted": len(self.egress), "cached_answers": len(self.cache_keys),
                "consent_kept_in_doubt": self.consent_kept, "exports": [str(p) for p in self.exports],
                "shared_files": [str(p) for p in self.shared_files], "unvouched": [str(p) for p in self.unvouched]}


def plan(con: duckdb.DuckDBPyConnection, cid: str, ws: Workspace, refs: SubjectRefs) -> ErasurePlan:
    """What `forget` would remove (also what `--dry-run` prints)."""
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
                       exports=[f.path for f in registry.of_subject(con, ws, refs, cid) if f.path.exists()],
                       shared_files=[f.path for f in registry.shared(con, ws)
                                     if f.unchanged() and registry.rows_of(f.path, cid)[1]],
                       unvouched=registry.unvouched(con, ws))


def _pending(con, refs: SubjectRefs, cid: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM erasures_pending WHERE id_hash = ?",
                            [registry.subject_hash(con, refs, cid)]).fetchone()[0])


def _mark_pending(con, refs: SubjectRefs, cid: str) -> None:
    """Inside the erasure's transaction: the later steps are owed (a resumed forget finds this)."""
    if not _pending(con, refs, cid):
        con.execute("INSERT INTO erasures_pending VALUES (?, current_date)", [registry.subject_hash(con, refs, cid)])


def forget(settings: Settings, customer_id: str, republish: bool = True, dry_run: bool = False) -> dict:
    """Erase `customer_id` and prove it. UsageError (exit 2) if nothing is held under that id;
    ErasureIncomplete (exit 1) naming what is left if the proof finds anything.
    With `dry_run`, only the plan is returned and nothing changes.

    Interruptible: the rows go in one transaction that also marks the erasure pending; every
    later step is complete on its own and repeatable, and the mark goes only when the proof
    finds nothing. A forget interrupted after the transaction is completed by running it again
    (the id then counts as held: its erasure is owed). The result's `unvouched` names the files in
    the exports and outcomes folders the workbench did not write (never read; see registry.py)."""
    cid = subject_id(customer_id)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet, nothing to erase")
    refs = SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)
    ws = wiring.open_workspace(settings)
    with ws.lock(wait=False, holder="a subject forget"):
        with ws.session() as con:
            resumed = _pending(con, refs, cid)
            if not resumed:
                resolve(con, refs, cid)
            # Computed before the secret is destroyed (it names the erasure event).
            ref = refs.ref(cid) if refs.known([cid])[0] else None
            todo = plan(con, cid, ws, refs)
            if dry_run:
                return {"dry_run": True, "resumed": resumed, **todo.describe()}
            ref = ref or refs.ref(cid)
            if todo.holds_rows:
                summary = _erase_rows(con, refs, cid, ref, todo)
            else:
                summary = {"removed_rows": {}, "egress_redacted": 0, "tombstone_added": False}
                with db.transaction(con):
                    _mark_pending(con, refs, cid)
        compact(settings.db_path)
        destroyed = refs.forget([cid])
        with ws.session() as con:
            files = registry.erase_files(con, ws, refs, cid)
        snapshot, problem = None, None
        if republish:
            # A fresh snapshot without the person; older generations (which still show them) go at once.
            snapshot = ws.changed(drop_old=True)
            if snapshot is None:  # the cause was printed by the hook; the proof below reports it too
                problem = "the dashboard snapshot was not republished"
        remaining = proof.remaining(settings, refs, cid, todo.egress, todo.cache_keys,
                                    tombstoned=todo.holds_rows or resumed)
        if problem:
            remaining.append(problem)
        with ws.session() as con:
            unvouched = registry.unvouched(con, ws)
            if not remaining:
                con.execute("DELETE FROM erasures_pending WHERE id_hash = ?", [registry.subject_hash(con, refs, cid)])
    if remaining:
        raise ErasureIncomplete(f"customer {cid}: NOT fully erased; still held: {'; '.join(remaining)}. "
                                "Fix the cause and run the same command again")
    return {"customer_id": cid, "subject_ref": ref, **summary, "secrets_destroyed": destroyed,
            "consent_kept_in_doubt": todo.consent_kept, "exports_removed": files["files_removed"],
            "files_rewritten": files["files_rewritten"], "resumed": resumed,
            "unvouched": [str(p) for p in unvouched],
            "snapshot": str(snapshot) if snapshot else None, "checked": proof.checked()}


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
        _mark_pending(con, refs, cid)
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
    con = db.in_memory()
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


