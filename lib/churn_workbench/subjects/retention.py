"""Storage limitation (Art. 5(1)(e)): remove what is older than its retention period.

Three kinds of data have a retention setting (days; unset = kept):
- feedback text (`WORKBENCH_RETENTION_FEEDBACK_DAYS`): feedback rows dated (created_at, else the
  run that imported them) before the cutoff are deleted; the ingest also leaves them out of
  later imports, so a re-import of the same file does not bring them back;
- feedback analyses (`WORKBENCH_RETENTION_ANALYSIS_DAYS`): rows of runs started before the cutoff
  are deleted (their anonymized text and summary with them);
- LLM request payloads (`WORKBENCH_RETENTION_EGRESS_DAYS`): the payload of requests sent before
  the cutoff is set to NULL; the row stays, so the record that a request left (when, to whom,
  its sha256 and token counts) survives.

`purge --older-than DAYS` applies one period to all three. The purge is one transaction with
one `retention_purged` audit event declaring the removed/rewritten rows' hashes, so `verify`
still passes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd

from .. import db
from ..audit import AuditLog
from ..config import MAX_RETENTION_DAYS, Settings
from ..errors import UsageError
from .. import wiring
from .erase import compact
from .holdings import operation_id, row_hashes

KINDS = ("feedback", "analysis", "egress")
_WHERE = {
    "feedback": "coalesce(created_at, (SELECT r.started_at FROM runs r WHERE r.run_id = feedback.run_id)) < ?",
    "analysis": "run_id IN (SELECT run_id FROM runs WHERE started_at < ?)",
    "egress": "payload IS NOT NULL AND sent_at < ?",
}


def periods(settings: Settings, older_than: int | None = None) -> dict[str, int]:
    """Retention days per kind: `older_than` for all, else the settings (kinds without one are kept)."""
    if older_than is not None:
        if not 0 <= older_than <= MAX_RETENTION_DAYS:
            raise UsageError(f"--older-than {older_than}: expected a number of days from 0 to {MAX_RETENTION_DAYS}")
        return {k: int(older_than) for k in KINDS}
    days = {"feedback": settings.retention_feedback_days, "analysis": settings.retention_analysis_days,
            "egress": settings.retention_egress_days}
    return {k: int(v) for k, v in days.items() if v is not None}


def cutoff(days: int, now: datetime | None = None) -> datetime:
    # Timestamps are stored as naive UTC.
    return (now or datetime.now(timezone.utc)).replace(tzinfo=None) - timedelta(days=days)


def feedback_kept(frame: pd.DataFrame, settings: Settings, now: datetime | None = None) -> pd.Series:
    """For the ingest: which imported feedback rows are within the feedback retention period
    (undated rows are, they are dated by the import itself)."""
    days = settings.retention_feedback_days
    if days is None or frame.empty or "created_at" not in frame:
        return pd.Series(True, index=frame.index)
    created = pd.to_datetime(frame["created_at"], errors="coerce")
    if getattr(created.dt, "tz", None) is not None:
        created = created.dt.tz_convert("UTC").dt.tz_localize(None)
    return ~(created < pd.Timestamp(cutoff(days, now)))


def purge(settings: Settings, older_than: int | None = None, republish: bool = True, dry_run: bool = False) -> dict:
    """Apply retention now; returns the counts per kind and the cutoffs used. With `dry_run`,
    only counts what would be purged (`would_purge`) and changes nothing."""
    todo = periods(settings, older_than)
    if not todo:
        raise UsageError("nothing to purge: give --older-than DAYS or set WORKBENCH_RETENTION_FEEDBACK_DAYS, "
                         "WORKBENCH_RETENTION_ANALYSIS_DAYS or WORKBENCH_RETENTION_EGRESS_DAYS")
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet, nothing to purge")
    cutoffs = {k: cutoff(d) for k, d in todo.items()}
    counts: dict[str, int] = {}
    removed: dict[str, dict[str, list[str]]] = {}
    added: dict[str, dict[str, list[str]]] = {}
    ws = wiring.open_workspace(settings)
    if dry_run:
        with ws.lock(wait=False, holder="a subject purge"), ws.session() as con:
            table = {"feedback": "feedback", "analysis": "feedback_analysis", "egress": "llm_egress"}
            would = {k: int(con.execute(f"SELECT count(*) FROM {table[k]} WHERE {_WHERE[k]}", [c]).fetchone()[0])
                     for k, c in cutoffs.items()}
        return {"dry_run": True, "days": todo, "cutoffs": {k: v.isoformat(sep=" ") for k, v in cutoffs.items()},
                "would_purge": would}
    with ws.lock(wait=False, holder="a subject purge"), ws.session() as con, db.transaction(con):
        if "feedback" in cutoffs:
            counts["feedback"] = con.execute(f"DELETE FROM feedback WHERE {_WHERE['feedback']}",
                                             [cutoffs["feedback"]]).fetchone()[0]
        if "analysis" in cutoffs:
            hashes = row_hashes(con, "feedback_analysis", _WHERE["analysis"], [cutoffs["analysis"]])
            if hashes:
                removed["feedback_analysis"] = hashes
            counts["analysis"] = con.execute(f"DELETE FROM feedback_analysis WHERE {_WHERE['analysis']}",
                                             [cutoffs["analysis"]]).fetchone()[0]
        if "egress" in cutoffs:
            # Mark the rows first: after the update the condition (payload IS NOT NULL) no longer finds them.
            con.execute(f"CREATE OR REPLACE TEMP TABLE _purged AS SELECT request_id, run_id, stage FROM llm_egress "
                        f"WHERE {_WHERE['egress']}", [cutoffs["egress"]])
            marked = "(request_id, run_id, stage) IN (SELECT (request_id, run_id, stage) FROM _purged)"
            hashes = row_hashes(con, "llm_egress", marked, [])
            if hashes:
                removed["llm_egress"] = hashes
            counts["egress"] = con.execute(f"UPDATE llm_egress SET payload = NULL WHERE {marked}").fetchone()[0]
            hashes = row_hashes(con, "llm_egress", marked, [])
            if hashes:
                added["llm_egress"] = hashes
            con.execute("DROP TABLE _purged")
        log = AuditLog(operation_id("retention"), "subject")
        log.event("retention_purged", "ok", days=todo, cutoffs={k: v.isoformat(sep=" ") for k, v in cutoffs.items()},
                  purged=counts, removed_row_hashes=removed, added_row_hashes=added)
        log.flush(con)
    snapshot = None
    if any(counts.values()):
        with ws.lock(wait=False, holder="a subject purge"):
            compact(settings.db_path)
        if republish:
            snapshot = ws.changed(drop_old=True)
    return {"days": todo, "cutoffs": {k: v.isoformat(sep=" ") for k, v in cutoffs.items()}, "purged": counts,
            "snapshot": str(snapshot) if snapshot else None}
