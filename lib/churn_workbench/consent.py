"""Consent register: the one home of the rule that decides whether a customer may be used.

Purposes (vocab.PURPOSES): `profiling` (may be scored and used to train the model),
`external_llm` (anonymized feedback may be sent to an external LLM), `marketing` (may receive a
retention action).

The rule fails closed in every ambiguity:
- no grant recorded for the customer and purpose: no;
- a grant counts only for its customer id (in canonical form: boundary/customer_ids.py); a
  withdrawal (granted = false) counts for every id with the same match key: trimmed,
  case-folded, look-alike and full-width characters folded, so "C001 ", "c001", "Ｃ００１" or a
  Cyrillic "С001" withdraw C001's consent too;
- the newest grant must be strictly newer than every withdrawal: a tie, or a withdrawal or grant
  without a `recorded_at` that would have to be compared, resolves to no;
- records dated after "now" are ignored (a future grant cannot override a real withdrawal) and
  reported by `future_dated`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

import duckdb
import pandas as pd

from . import consent_trail, db
from .audit import AuditLog, digest_of
from .boundary.customer_ids import match_key_sql
from .pseudonyms import SubjectRefs
from .vocab import PURPOSES

def now_utc() -> datetime:
    # recorded_at is stored as a naive UTC timestamp.
    return datetime.now(timezone.utc).replace(tzinfo=None)


def decision_sql(table: str = "consent", now: datetime | None = None) -> str:
    """A query over the register `table` (an SQL relation name) with one row per (customer_id,
    purpose) that has a grant, and `allowed` per the module's rule. Ids without a row: no consent."""
    cutoff = db.literal((now or now_utc()).isoformat(sep=" "))
    norm = match_key_sql("customer_id")
    return f"""
        WITH rec AS (SELECT customer_id, {norm} AS norm_id, purpose, granted, recorded_at FROM {table}
                     WHERE recorded_at IS NULL OR recorded_at <= TIMESTAMP {cutoff}),
             g AS (SELECT customer_id, norm_id, purpose, max(recorded_at) AS grant_at FROM rec
                   WHERE granted GROUP BY ALL),
             w AS (SELECT norm_id, purpose, max(recorded_at) AS withdrawn_at,
                          bool_or(recorded_at IS NULL) AS undated FROM rec
                   WHERE NOT granted OR granted IS NULL GROUP BY ALL)
        SELECT g.customer_id, g.purpose,
               w.norm_id IS NULL OR (NOT w.undated AND g.grant_at IS NOT NULL AND g.grant_at > w.withdrawn_at)
                   AS allowed
        FROM g LEFT JOIN w USING (norm_id, purpose)"""


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")


def allowed(con: duckdb.DuckDBPyConnection, customer_ids: Iterable, purpose: str) -> pd.Series:
    """Boolean Series indexed by customer id: may this customer be used for `purpose` now?"""
    _check_purpose(purpose)
    ids = pd.Index(pd.Series(list(customer_ids), dtype="string"), name="customer_id")
    decided = con.execute(f"SELECT customer_id, allowed FROM ({decision_sql()}) WHERE purpose = ?", [purpose]).df()
    granted = decided.set_index(decided["customer_id"].astype("string"))["allowed"]
    result = granted.reindex(ids).astype("boolean").fillna(False).astype(bool)
    result.index = ids
    return result


def future_dated(con: duckdb.DuckDBPyConnection) -> int:
    """How many records are dated after now (ignored until their time comes)."""
    return con.execute("SELECT count(*) FROM consent WHERE recorded_at > ?", [now_utc()]).fetchone()[0]


def check(con: duckdb.DuckDBPyConnection, customer_ids: Iterable, purpose: str,
          audit: AuditLog, refs: SubjectRefs) -> pd.Series:
    """`allowed`, plus the audit trail: counts per outcome, the digest of the excluded customers'
    refs, and their exclusion events (consent_trail.py: one per customer whose exclusion is new,
    one for those excluded as at the previous check)."""
    decision = allowed(con, customer_ids, purpose)
    n_allowed = int(decision.sum())
    withdrawn = withdrawn_count(con, decision.index[~decision.values], purpose)
    excluded_refs = refs.refs(decision.index[~decision.values])
    audit.event("consent_checked", "ok", purpose=purpose, allowed=n_allowed,
                excluded=int(len(decision) - n_allowed), withdrawn=withdrawn,
                no_record=int(len(decision) - n_allowed - withdrawn), future_dated_ignored=future_dated(con),
                excluded_sha256=digest_of(excluded_refs))
    consent_trail.record(con, audit, purpose, excluded_refs)
    return decision


def withdrawn_count(con: duckdb.DuckDBPyConnection, customer_ids: Iterable, purpose: str) -> int:
    """How many of `customer_ids` have a refusal or withdrawal on record for `purpose` (matched as
    withdrawals match, not dated in the future): the run summary tells these apart from customers
    with no record at all, because the fix differs (respect it vs. collect consent)."""
    ids = pd.DataFrame({"customer_id": pd.Series(list(customer_ids), dtype="string")})
    if ids.empty:
        return 0
    norm = match_key_sql("customer_id")
    con.register("_excluded_ids", ids)
    try:
        return int(con.execute(
            f"SELECT count(*) FROM _excluded_ids WHERE {norm} IN (SELECT {norm} FROM consent WHERE purpose = ? "
            "AND NOT coalesce(granted, false) AND (recorded_at IS NULL OR recorded_at <= ?))",
            [purpose, now_utc()]).fetchone()[0])
    finally:
        con.unregister("_excluded_ids")
