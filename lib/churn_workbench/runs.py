"""Runs: the one rule for "the latest run" (shared by the stages and the snapshot), and the store of
the run tables."""
from __future__ import annotations

import json
from pathlib import Path
from . import db
from .audit import AuditLog, file_sha256
from .errors import UsageError

from .workspace import Workspace


def latest_run_sql(table_sql: str, runs_sql: str = "runs") -> str:
    """A scalar subquery: the newest run (by start time, then run id) that has rows in `table_sql`.

    `table_sql` and `runs_sql` are SQL relation names (already quoted with `db.ident` when they
    come from anywhere but this code). A run missing from `runs_sql` counts as the oldest.
    """
    return (f"(SELECT t.run_id FROM {table_sql} t LEFT JOIN {runs_sql} r USING (run_id) GROUP BY t.run_id "
            "ORDER BY max(r.started_at) DESC NULLS LAST, t.run_id DESC LIMIT 1)")


def case_twin(con, run_id: str) -> str | None:
    """A stored run's id that differs from `run_id` in letter case only, if any."""
    twin = con.execute("SELECT run_id FROM runs WHERE lower(run_id) = lower(?) AND run_id <> ? ORDER BY 1 LIMIT 1",
                       [run_id, run_id]).fetchone()
    return twin[0] if twin else None


def case_twin_hint(con, run_id: str) -> str:
    """For a refusal naming an unknown run: "; did you mean <id>?" when a stored run's id differs
    from `run_id` in letter case only (ids keep case: `Base-1` is not `base-1`), else ""."""
    twin = case_twin(con, run_id)
    return f"; did you mean {twin} (run ids keep letter case)?" if twin else ""


def stored_status(con, run_id: str, what: str = "--run-id") -> str | None:
    """The status of the stored run `run_id` (None: no such run). A run id that differs from a
    stored run's only in letter case is refused (UsageError naming `what`): a run's folder is
    named by its id, and on a case-insensitive file system (macOS, Windows, many bind mounts)
    `Base-1` and `base-1` are one folder. The command line (`--run-id`) and a stage notebook run
    by hand (its `run_id` parameter) both check a run id here."""
    row = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is not None:
        return row[0]
    twin = case_twin(con, run_id)
    if twin is not None:
        raise UsageError(f"{what} {run_id}: run {twin} exists already and differs only in letter case (one "
                         f"folder on a case-insensitive file system); choose another {what}")
    return None


class RunStore:
    """The run tables (`runs`, `stage_runs`) behind one interface: callers never write their SQL.

    Every change is one short transaction together with its audit event, so the table and the
    chain never disagree. Notebook paths are recorded relative to the workspace (portable).
    """

    def __init__(self, workspace: Workspace):
        self.ws = workspace

    def _record(self, run_id: str, stage: str, event: str, status: str = "ok", sql: str | None = None,
                params: list | None = None, **details) -> None:
        log = AuditLog(run_id, stage)
        log.event(event, status, **details)
        with self.ws.session() as con, db.transaction(con):
            if sql:
                con.execute(sql, params or [])
            log.flush(con)

    def event(self, run_id: str, stage: str, event: str, status: str = "ok", **details) -> None:
        """An audit event of the run that changes no run table."""
        self._record(run_id, stage, event, status, **details)

    def start(self, run_id: str, params: dict, llm_provider: str, stages: list[str]) -> None:
        self._record(run_id, "pipeline", "run_started",
                     sql="INSERT INTO runs (run_id, started_at, status, params, llm_provider) VALUES (?, now(), 'running', ?, ?)",
                     params=[run_id, json.dumps(params, sort_keys=True), llm_provider],
                     stages=stages, llm_provider=llm_provider)

    def resume(self, run_id: str, skipped: list[str]) -> None:
        self._record(run_id, "pipeline", "run_resumed",
                     sql="UPDATE runs SET status = 'running', finished_at = NULL, error = NULL WHERE run_id = ?",
                     params=[run_id], skipped=sorted(skipped))

    def finish(self, run_id: str, status: str, error: str | None, **details) -> None:
        audit_status = {"succeeded": "ok", "interrupted": "interrupted"}.get(status, "failed")
        self._record(run_id, "pipeline", "run_finished", audit_status,
                     sql="UPDATE runs SET status = ?, finished_at = now(), error = ? WHERE run_id = ?",
                     params=[status, error, run_id], status_detail=status, **details)

    def open_interactive(self, run_id: str, stage: str, llm_provider: str) -> None:
        """A notebook run by hand: its run row, once (no audit event: no stage has run yet)."""
        with self.ws.session() as con:
            con.execute("INSERT INTO runs (run_id, started_at, status, params, llm_provider) "
                        "SELECT ?, now(), 'interactive', ?, ? WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = ?)",
                        [run_id, json.dumps({"stage": stage}), llm_provider, run_id])

    def stage_started(self, run_id: str, stage: str) -> None:
        self._record(run_id, stage, "stage_started", sql="DELETE FROM stage_runs WHERE run_id = ? AND stage = ?",
                     params=[run_id, stage])

    def stage_finished(self, run_id: str, stage: str, status: str, duration_s: float, notebook: Path,
                       error: str | None, error_type: str | None = None) -> str | None:
        """Record a stage's end; returns the executed notebook's sha256 (None if it was not written)."""
        sha = file_sha256(notebook) if notebook.exists() else None
        ok = status == "succeeded"
        self._record(run_id, stage, "stage_finished" if ok else "stage_failed", "ok" if ok else "failed",
                     sql="INSERT INTO stage_runs (run_id, stage, status, started_at, finished_at, duration_s, "
                         "notebook_path, notebook_sha256, error) "
                         "VALUES (?, ?, ?, now() - to_microseconds(CAST(? * 1e6 AS BIGINT)), now(), ?, ?, ?, ?)",
                     params=[run_id, stage, status, duration_s, duration_s, self.ws.relative(notebook), sha, error],
                     duration_s=round(duration_s, 3), notebook_sha256=sha,
                     error_type=error_type or (error.split(":", 1)[0] if error else None))
        return sha

    def exists(self, run_id: str) -> bool:
        with self.ws.session() as con:
            # Ids differing in case only name one folder on a case-insensitive file system: one run.
            return con.execute("SELECT count(*) FROM runs WHERE lower(run_id) = lower(?)", [run_id]).fetchone()[0] > 0

    def succeeded_stages(self, run_id: str) -> set[str]:
        with self.ws.session() as con:
            return {r[0] for r in con.execute(
                "SELECT stage FROM stage_runs WHERE run_id = ? AND status = 'succeeded'", [run_id]).fetchall()}

    def artefacts(self, run_id: str) -> dict[str, Path]:
        """The run's files the chain seals: executed notebooks, its model and model card."""
        with self.ws.session() as con:
            notebooks = con.execute("SELECT stage, notebook_path FROM stage_runs WHERE run_id = ? "
                                    "AND notebook_sha256 IS NOT NULL", [run_id]).fetchall()
            models = con.execute("SELECT path, card_path FROM model_registry WHERE run_id = ?", [run_id]).fetchall()
        found: dict[str, Path] = {f"notebook:{stage}": self.ws.resolve(path) for stage, path in notebooks}
        for path, card in models:
            found["model"] = self.ws.resolve(path)
            if card:
                found["model_card"] = self.ws.resolve(card)
        return {name: path for name, path in found.items() if path.exists()}
