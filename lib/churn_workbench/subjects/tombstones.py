"""Tombstones: erased ids stay out of later imports until the operator lifts the tombstone.

An erasure leaves two rows, each only a keyed hash, never the id:
- `erasure`: the hash of the exact id in canonical form (full-width and invisible-character
  variants are the same id; letter case is kept, `c001` is another customer). A later import
  drops that id; `subject lift` lifts it by the same exact id.
- `lookalike`: the hash of the id's look-alike match key (case-folded, confusables folded, as
  withdrawals match). An imported id that only looks like an erased one is another customer
  id and is taken in, but counted as `looks_like_erased` in the ingest's audit event and
  summary, so the operator can check it.
Tombstones written before this rule hashed the trimmed, lower-cased id (`reason` 'erasure',
domain "tombstone"); they still strip every case variant (which of them was erased is not
known), and `lift` lifts them only when no exact tombstone exists. Someone holding the database
alone cannot tell which ids were erased; with the subject key they can test a candidate id,
which is exactly what the ingest needs to do. Dates are kept to the day and the table is kept
sorted by hash, so a tombstone cannot be paired with its `subject_erased` audit event (whose
subject ref would then reveal the person's earlier, shredded audit history).
"""
from __future__ import annotations

import duckdb
import pandas as pd

from .. import db
from ..audit import AuditLog, canonical_json, sha256_hex
from ..boundary.customer_ids import match_key_sql, subject_id
from ..config import Settings
from ..errors import UsageError
from ..pseudonyms import SubjectRefs
from ..workspace import Workspace
from .holdings import operation_id

_DOMAIN = "tombstone"
_EXACT = "tombstone-exact"
_LOOKALIKE = "tombstone-lookalike"
# The id as tombstones written before the exact rule were hashed (kept, so they still match):
# every kind of white space and invisible filler trimmed, then lower-cased.
_NORMALISED_ID = ("lower(regexp_replace({col}, "
                  "'^[\\s\\x{{00A0}}\\x{{2000}}-\\x{{200D}}\\x{{2060}}\\x{{3000}}\\x{{FEFF}}]+|"
                  "[\\s\\x{{00A0}}\\x{{2000}}-\\x{{200D}}\\x{{2060}}\\x{{3000}}\\x{{FEFF}}]+$', '', 'g'))")


def hash_sql(refs: SubjectRefs, column: str, kind: str = _EXACT) -> tuple[str, list]:
    """(SQL expression, params): the tombstone hash of the id in `column` (an SQL expression):
    `kind` _EXACT (the canonical id as it is), _LOOKALIKE (its match key) or _DOMAIN (legacy)."""
    if kind == _EXACT:
        return f"sha256(? || {column})", [refs.keyed_prefix(_EXACT)]
    if kind == _LOOKALIKE:
        return f"sha256(? || {match_key_sql(column)})", [refs.keyed_prefix(_LOOKALIKE)]
    return f"sha256(? || {_NORMALISED_ID.format(col=column)})", [refs.keyed_prefix(_DOMAIN)]


def id_hash(con: duckdb.DuckDBPyConnection, refs: SubjectRefs, customer_id: str, kind: str = _EXACT) -> str:
    expr, params = hash_sql(refs, "_id.v", kind)
    return con.execute(f"SELECT {expr} FROM (SELECT CAST(? AS VARCHAR) AS v) _id", [*params, str(customer_id)]).fetchone()[0]


def _active(con, digest: str, reason: str) -> int:
    return con.execute("SELECT count(*) FROM tombstones WHERE id_hash = ? AND reason = ? AND lifted_at IS NULL",
                       [digest, reason]).fetchone()[0]


def is_tombstoned(con: duckdb.DuckDBPyConnection, refs: SubjectRefs, customer_id: str) -> bool:
    return bool(_active(con, id_hash(con, refs, customer_id), "erasure")
                or _active(con, id_hash(con, refs, customer_id, _DOMAIN), "erasure"))


def add(con: duckdb.DuckDBPyConnection, refs: SubjectRefs, customer_id: str) -> bool:
    """Tombstone an id (inside the caller's transaction). False if it already was."""
    digest = id_hash(con, refs, customer_id)
    if _active(con, digest, "erasure"):
        return False
    con.execute("INSERT INTO tombstones (id_hash, created_at, lifted_at, reason) VALUES (?, current_date, NULL, 'erasure')", [digest])
    con.execute("INSERT INTO tombstones (id_hash, created_at, lifted_at, reason) VALUES (?, current_date, NULL, 'lookalike')",
                [id_hash(con, refs, customer_id, _LOOKALIKE)])
    _resort(con)
    return True


def _resort(con) -> None:
    # Rows come back in insertion order; sorting by hash keeps that order from dating a tombstone.
    con.execute("CREATE OR REPLACE TEMP TABLE _tomb AS SELECT * FROM tombstones ORDER BY id_hash, created_at")
    con.execute("DELETE FROM tombstones")
    con.execute("INSERT INTO tombstones BY NAME SELECT * FROM _tomb")
    con.execute("DROP TABLE _tomb")


EMPTY_STATE = sha256_hex(canonical_json([]))


def state_digest(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the active tombstones: part of the ingest's input fingerprint, so adding or
    lifting one makes the next run re-read (and filter) its inputs."""
    hashes = [r[0] for r in con.execute("SELECT id_hash FROM tombstones WHERE lifted_at IS NULL ORDER BY 1").fetchall()]
    return sha256_hex(canonical_json(hashes))


def admit(con: duckdb.DuckDBPyConnection, refs: SubjectRefs,
          frames: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """The one tombstone check every input passes: drop the rows of erased customers from each
    frame (by its `customer_id` column, already in canonical form -- inputs.values.read_ids).

    `frames`: input kind -> frame. Returns the kept frames and, per kind, the rows dropped, plus
    `looks_like_erased`: ids kept that only look like an erased one (another id, flagged for the
    operator). Counts only: nothing here names an id. Without active tombstones nothing is read.
    """
    counts = {kind: 0 for kind in frames} | {"looks_like_erased": 0}
    if not frames or not con.execute("SELECT count(*) FROM tombstones WHERE lifted_at IS NULL").fetchone()[0]:
        return dict(frames), counts
    ids = pd.concat([f["customer_id"] for f in frames.values()], ignore_index=True).dropna().astype(str).unique()
    con.register("_incoming_ids", pd.DataFrame({"customer_id": ids}))
    try:
        matched = {}
        for kind, reason in ((_EXACT, "erasure"), (_DOMAIN, "erasure"), (_LOOKALIKE, "lookalike")):
            expr, params = hash_sql(refs, "customer_id", kind)
            matched[kind] = {r[0] for r in con.execute(
                f"SELECT customer_id FROM _incoming_ids WHERE {expr} IN "
                "(SELECT id_hash FROM tombstones WHERE lifted_at IS NULL AND reason = ?)", [*params, reason]).fetchall()}
    finally:
        con.unregister("_incoming_ids")
    erased = matched[_EXACT] | matched[_DOMAIN]
    first = next(iter(frames.values()))  # the customers of an ingest; any kept id elsewhere
    counts["looks_like_erased"] = len((matched[_LOOKALIKE] - erased) & set(first["customer_id"].dropna().astype(str)))
    kept = {}
    for name, frame in frames.items():
        drop = frame["customer_id"].astype(str).isin(erased).to_numpy() if erased else None
        counts[name] = int(drop.sum()) if drop is not None else 0
        kept[name] = frame.loc[~drop].reset_index(drop=True) if counts[name] else frame
    return kept, counts


def strip(con: duckdb.DuckDBPyConnection, refs: SubjectRefs, customers: pd.DataFrame, feedback: pd.DataFrame,
          consent_records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """`admit` for an ingest's three frames: (customers, feedback, consent records, counts)."""
    kept, counts = admit(con, refs, {"customers": customers, "feedback": feedback, "consent_records": consent_records})
    return kept["customers"], kept["feedback"], kept["consent_records"], counts


def lift(settings: Settings, customer_id: str) -> dict:
    """Lift the tombstone of `customer_id`: the next import takes the customer in again (as a new
    subject with a new pseudonym). Audited, without a subject ref (the old one is shredded)."""
    customer_id = subject_id(customer_id)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet, no tombstone to lift")
    refs = SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)
    ws = Workspace(settings)
    with ws.lock(wait=False, holder="a subject lift"), ws.session() as con, db.transaction(con):
        # The exact id's tombstone; one written before the exact rule only when there is none.
        digest = id_hash(con, refs, customer_id)
        n = _active(con, digest, "erasure")
        if n:
            lookalike = id_hash(con, refs, customer_id, _LOOKALIKE)
            con.execute("UPDATE tombstones SET lifted_at = current_date WHERE rowid = (SELECT min(rowid) FROM tombstones "
                        "WHERE id_hash = ? AND reason = 'lookalike' AND lifted_at IS NULL)", [lookalike])
        else:
            digest = id_hash(con, refs, customer_id, _DOMAIN)
            n = _active(con, digest, "erasure")
        if not n:
            raise UsageError(f"customer {customer_id}: no active tombstone under this exact id (never erased, or "
                             "already lifted; letter case counts)")
        con.execute("UPDATE tombstones SET lifted_at = current_date WHERE id_hash = ? AND reason = 'erasure' "
                    "AND lifted_at IS NULL", [digest])
        log = AuditLog(operation_id("subject-lift"), "subject")
        log.event("tombstone_lifted", "ok", tombstones_lifted=int(n))
        log.flush(con)
    return {"customer_id": customer_id, "lifted": int(n)}
