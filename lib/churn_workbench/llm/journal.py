"""Write-ahead record of egress: what leaves the machine is durable before it leaves.

The request engine calls `before_send` with the exact bytes of each attempt, from the httpx
request hook, i.e. after serialisation and before the socket write. In one short transaction
that inserts (first attempt) or updates (later attempts: the attempt count) the `llm_egress`
row with outcome `sending`, and flushes the stage's pending audit events plus an `llm_send`
event, so the hash chain covers the request before it exists on the network. `after` sets the
outcome, tokens and latency. `cache` stores validated answers as they arrive.

After a crash, `reconcile` (called when the stage starts again) marks this run and stage's
rows still `sending` as `interrupted`: they may or may not have reached the server, and they
stay recorded; nothing is deleted or inserted twice. The resumed stage finds the answers that
did arrive in the cache and sends only the rest.

DuckDB lets one process hold the file: while a stage runs, that is the stage kernel, so these
short connections (db.session) are allowed; a lock serialises the engine's worker threads.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from .. import db
from ..audit import AuditLog

EGRESS_COLUMNS = db.columns("llm_egress")


class EgressJournal:
    def __init__(self, db_path: str | Path, run_id: str, stage: str):
        self.db_path, self.run_id, self.stage = Path(db_path), run_id, stage
        self._lock = threading.Lock()
        self.rows_written = 0

    # ------------------------------------------------------------------ audit plumbing
    @staticmethod
    def _take(audit) -> list[dict]:
        """Move the stage's pending audit events out (workers may append meanwhile)."""
        pending = getattr(audit, "pending", None)
        if pending is None:
            return []
        n = len(pending)
        events = pending[:n]
        del pending[:n]
        return events

    def _write(self, audit, work) -> None:
        events = self._take(audit)
        try:
            with self._lock, db.session(self.db_path) as con, db.transaction(con):
                work(con)
                if events:
                    AuditLog(self.run_id, self.stage, pending=events).flush(con)
        except BaseException:
            if events and getattr(audit, "pending", None) is not None:
                audit.pending[:0] = events  # not written: keep them for the stage's own commit
            raise

    # ------------------------------------------------------------------ the record
    def reconcile(self, audit) -> int:
        """Rows left `sending` by a crashed attempt of this stage become `interrupted`."""
        found = []

        def work(con):
            found.extend(r[0] for r in con.execute(
                "SELECT request_id FROM llm_egress WHERE run_id = ? AND stage = ? AND outcome = 'sending'",
                [self.run_id, self.stage]).fetchall())
            if found:
                con.execute("UPDATE llm_egress SET outcome = 'interrupted' WHERE run_id = ? AND stage = ? "
                            "AND outcome = 'sending'", [self.run_id, self.stage])
        with self._lock, db.session(self.db_path) as con, db.transaction(con):
            work(con)
            if found:
                log = AuditLog(self.run_id, self.stage)
                log.event("llm_egress_reconciled", "interrupted", n_requests=len(found), request_ids=sorted(found))
                log.flush(con)
        return len(found)

    def before_send(self, audit, row: dict, mode: str = "") -> None:
        """Durably record one attempt of a request, exactly as it will be sent, before it is sent."""
        audit.event("llm_send", "sending", request_id=row["request_id"], attempt=row["attempts"],
                    payload_sha256=row["payload_sha256"], n_items=row["n_items"], provider=row["provider"],
                    model=row["model"], response_format=mode)

        def work(con):
            if row["attempts"] <= 1:
                frame = pd.DataFrame([row], columns=EGRESS_COLUMNS)
                frame["sent_at"] = pd.to_datetime(frame["sent_at"])
                db.insert_df(con, "llm_egress", frame)
                self.rows_written += 1
            else:
                con.execute("UPDATE llm_egress SET attempts = ?, outcome = 'sending' WHERE request_id = ?",
                            [row["attempts"], row["request_id"]])
        self._write(audit, work)

    def after(self, audit, request_id: str, outcome: str, prompt_tokens: int, completion_tokens: int,
              latency_ms: float, attempts: int, payload: str | None) -> None:
        """The outcome of a recorded request (and the audit events of its attempts)."""
        def work(con):
            if attempts:
                con.execute("UPDATE llm_egress SET outcome = ?, prompt_tokens = ?, completion_tokens = ?, "
                            "latency_ms = ?, attempts = ? WHERE request_id = ?",
                            [outcome, prompt_tokens, completion_tokens, latency_ms, attempts, request_id])
        self._write(audit, work)

    def cache(self, rows: pd.DataFrame) -> None:
        """Validated answers as they arrive (table analysis_cache; first answer per key wins)."""
        if rows is None or not len(rows):
            return
        with self._lock, db.session(self.db_path) as con:
            db.insert_new_keys(con, "analysis_cache", "cache_key", rows)

    def cached(self, keys: list[str]) -> dict[str, str]:
        """cache_key -> result JSON for the keys already answered (any run)."""
        if not keys:
            return {}
        with self._lock, db.session(self.db_path) as con:
            frame = pd.DataFrame({"cache_key": list(dict.fromkeys(keys))})
            con.register("_wanted", frame)
            try:
                return dict(con.execute("SELECT c.cache_key, c.result FROM analysis_cache c "
                                        "JOIN _wanted USING (cache_key)").fetchall())
            finally:
                con.unregister("_wanted")
