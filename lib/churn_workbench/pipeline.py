"""Headless runner: executes the stage notebooks in order with papermill and keeps them as audit
artefacts under audit/runs/<run_id>/.

The runner never holds the DuckDB file while a stage runs (the stage kernel is another process,
and DuckDB lets only one process open the file). It opens short connections between stages.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import resource
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbclient.exceptions
import papermill
from jupyter_client.manager import AsyncKernelManager

from . import audit, db
from .audit import AuditLog
from .config import PROJECT_ROOT, Settings
from .errors import PipelineBusy, WorkbenchError, exit_code_for_name
from .llm import progress as llm_progress
from .stages.params import for_stage
from .vocab import STAGES

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = {"ingest": "01_ingest.ipynb", "feedback": "02_feedback_agent.ipynb", "train": "03_train_model.ipynb",
             "predict": "04_prediction_agent.ipynb", "act": "05_action_agent.ipynb"}
@dataclass
class StageResult:
    stage: str
    status: str
    duration_s: float
    notebook: Path
    error: str | None = None
    exit_code: int = 0


@dataclass
class RunResult:
    run_id: str
    status: str
    stages: list[StageResult] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0
    run_dir: Path | None = None


_SOCKET_DIR: Path | None = None


class IpcKernelManager(AsyncKernelManager):
    """Stage kernels talk over Unix sockets in a private directory instead of TCP ports on the
    host: nothing listens on the network, and the kernel has no reason to warn about plain TCP."""

    def __init__(self, **kwargs):
        global _SOCKET_DIR
        if _SOCKET_DIR is None:
            _SOCKET_DIR = Path(tempfile.mkdtemp(prefix="workbench-kernels-"))
            atexit.register(shutil.rmtree, _SOCKET_DIR, True)
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", str(_SOCKET_DIR / f"kernel-{secrets.token_hex(4)}"))
        super().__init__(**kwargs)


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@contextlib.contextmanager
def pipeline_lock(db_path: Path, wait: bool):
    """One pipeline per database at a time: a second run waits (--wait) or is refused clearly.

    flock is released by the kernel when the process dies, so a SIGKILLed run never leaves a stale lock.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = db_path.with_name(db_path.name + ".lock")
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise PipelineBusy(f"{db_path}: another pipeline run is using this database ({holder}); "
                               "wait for it to finish or start this one with --wait") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _record(settings: Settings, run_id: str, stage: str, event: str, status: str = "ok", sql: str | None = None,
            params: list | None = None, **details) -> None:
    """One short connection: an audit event plus an optional bookkeeping statement, atomically."""
    log = AuditLog(run_id, stage)
    log.event(event, status, **details)
    with db.session(settings.db_path) as con, db.transaction(con):
        if sql:
            con.execute(sql, params or [])
        log.flush(con)


def stage_parameters(stage: str, params: dict) -> dict:
    """The stage's declared parameters (stages/params.py): never a secret, because papermill
    writes parameters into the executed notebook."""
    return for_stage(stage, params).as_papermill()


def execute_stage(stage: str, index: int, params: dict, run_dir: Path, progress: bool, echo=print) -> StageResult:
    output = run_dir / f"{index:02d}_{stage}.ipynb"
    started = time.monotonic()
    try:
        # The stage's LLM work happens in the kernel, out of the terminal's sight: its progress
        # lines (counts only, no text) are followed here.
        with llm_progress.following(params["db_path"], params["run_id"], echo):
            papermill.execute_notebook(
                str(NOTEBOOK_DIR / NOTEBOOKS[stage]), str(output), parameters=stage_parameters(stage, params),
                kernel_name="python3", progress_bar=progress, cwd=str(NOTEBOOK_DIR), log_output=False,
                kernel_manager_class=IpcKernelManager,
            )
        return StageResult(stage, "succeeded", time.monotonic() - started, output)
    except papermill.PapermillExecutionError as exc:
        # The kernel is another process: its exception arrives as a class name, classified by errors.py.
        return StageResult(stage, "failed", time.monotonic() - started, output, f"{exc.ename}: {exc.evalue}",
                           exit_code_for_name(exc.ename))
    except (nbclient.exceptions.CellTimeoutError, nbclient.exceptions.DeadKernelError,
            nbclient.exceptions.CellExecutionError, RuntimeError) as exc:
        return StageResult(stage, "failed", time.monotonic() - started, output, f"{type(exc).__name__}: {exc}", 1)


def run(settings: Settings, params: dict, stages: list[str], run_id: str | None = None, resume: bool = False,
        wait: bool = False, progress: bool = True, echo=print) -> RunResult:
    """Run `stages` for one run. With `resume`, stages that already succeeded for `run_id` are skipped."""
    with pipeline_lock(settings.db_path, wait):
        return _run_locked(settings, params, stages, run_id, resume, progress, echo)


def _run_locked(settings, params, stages, run_id, resume, progress, echo) -> RunResult:
    run_id = run_id or new_run_id()
    params = dict(params, run_id=run_id, db_path=str(settings.db_path), llm_provider=settings.llm_provider)
    run_dir = settings.audit_dir / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    with db.session(settings.db_path) as con:
        if resume:
            done = {r[0] for r in con.execute(
                "SELECT stage FROM stage_runs WHERE run_id = ? AND status = 'succeeded'", [run_id]).fetchall()}
    if resume:
        _record(settings, run_id, "pipeline", "run_resumed", sql="UPDATE runs SET status = 'running', finished_at = NULL, error = NULL WHERE run_id = ?",
                params=[run_id], skipped=sorted(done))
    else:
        _record(settings, run_id, "pipeline", "run_started",
                sql="INSERT INTO runs (run_id, started_at, status, params, llm_provider) VALUES (?, now(), 'running', ?, ?)",
                params=[run_id, json.dumps(params, sort_keys=True), settings.llm_provider],
                stages=stages, llm_provider=settings.llm_provider)
    result = RunResult(run_id, "running", run_dir=run_dir)
    todo = [s for s in stages if s not in done]
    for number, stage in enumerate(stages, start=1):
        if stage not in todo:
            echo(f"[{number}/{len(stages)}] {stage}: already done in this run, skipped")
            continue
        echo(f"[{number}/{len(stages)}] {stage}: running {NOTEBOOKS[stage]} ...")
        _record(settings, run_id, stage, "stage_started", sql="DELETE FROM stage_runs WHERE run_id = ? AND stage = ?",
                params=[run_id, stage])
        outcome = execute_stage(stage, STAGES.index(stage) + 1, params, run_dir, progress, echo)
        result.stages.append(outcome)
        nb_hash = audit.file_sha256(outcome.notebook) if outcome.notebook.exists() else None
        _record(settings, run_id, stage, "stage_finished" if outcome.status == "succeeded" else "stage_failed",
                "ok" if outcome.status == "succeeded" else "failed",
                sql="INSERT INTO stage_runs VALUES (?, ?, ?, now() - to_microseconds(CAST(? * 1e6 AS BIGINT)), now(), ?, ?, ?, NULL, ?)",
                params=[run_id, stage, outcome.status, outcome.duration_s, outcome.duration_s, str(outcome.notebook),
                        nb_hash, outcome.error],
                duration_s=round(outcome.duration_s, 3), notebook_sha256=nb_hash,
                error_type=outcome.error.split(":", 1)[0] if outcome.error else None)
        if outcome.status != "succeeded":
            result.status, result.exit_code = "failed", outcome.exit_code
            result.error = outcome.error
            echo(f"[{number}/{len(stages)}] {stage}: FAILED after {outcome.duration_s:.1f}s — {result.error}")
            echo(f"    the executed notebook with the full error: {outcome.notebook}")
            break
        echo(f"[{number}/{len(stages)}] {stage}: done in {outcome.duration_s:.1f}s")
    else:
        result.status = "succeeded"
    _finish(settings, result, echo)
    return result


def _finish(settings: Settings, result: RunResult, echo=print) -> None:
    """Close the run: seal its artefacts in the chain, status, manifest with chain head and
    artefact hashes, then sign the chain head and export it to the heads file."""
    peak_child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with db.session(settings.db_path) as con:
        notebooks = con.execute("SELECT stage, notebook_path FROM stage_runs WHERE run_id = ? AND notebook_sha256 IS NOT NULL",
                                [result.run_id]).fetchall()
        models = con.execute("SELECT path, card_path FROM model_registry WHERE run_id = ?", [result.run_id]).fetchall()
    artefacts: dict[str, Path] = {f"notebook:{stage}": Path(path) for stage, path in notebooks}
    for path, card in models:
        artefacts["model"] = Path(path)
        if card and Path(card).exists():
            artefacts["model_card"] = Path(card)
    hashed = audit.artefact_hashes({k: v for k, v in artefacts.items() if v.exists()})
    # The chain holds every artefact's sha256 too, so replacing a file together with its
    # manifest entry still disagrees with the chain.
    _record(settings, result.run_id, "pipeline", audit.ARTEFACTS_SEALED,
            artefacts={name: a["sha256"] for name, a in hashed.items()})
    _record(settings, result.run_id, "pipeline", "run_finished", "ok" if result.status == "succeeded" else "failed",
            sql="UPDATE runs SET status = ?, finished_at = now(), error = ? WHERE run_id = ?",
            params=[result.status, result.error, result.run_id], status_detail=result.status,
            peak_stage_kernel_rss_mb=round(peak_child_mb, 1))
    with db.session(settings.db_path) as con:
        head = audit.chain_head(con)
    audit.write_manifest(result.run_dir, result.run_id, head, {}, hashed)
    _export_head(settings, head, echo)
    _publish_snapshot(settings)


def _export_head(settings: Settings, head: dict, echo) -> None:
    """Sign the chain head and append it to the heads file. A failure is reported, not raised:
    the run's own outcome stands, and the next run's head covers this one's events."""
    from . import signing
    try:
        record = signing.export_head(settings, head)
    except (OSError, WorkbenchError) as exc:
        echo(f"warning: the chain head was NOT signed and exported: {exc}")
        return
    echo(signing.describe(record, settings.heads_file))


def _publish_snapshot(settings: Settings) -> None:
    """The dashboard's read-only copy. A failure here must not turn a finished run into a crash."""
    from .dashboard import publish
    try:
        publish.publish(settings.db_path, publish.default_dir(settings.db_path), settings.audit_dir)
    except Exception as exc:  # noqa: BLE001 - reported, the run's own outcome stands
        print(f"warning: the dashboard snapshot was not published: {type(exc).__name__}: {exc}")


def run_summary(settings: Settings, run_id: str) -> dict:
    with db.session(settings.db_path) as con:
        segments = dict(con.execute("SELECT segment, count(*) FROM predictions WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]).fetchall())
        actions = dict(con.execute("SELECT status, count(*) FROM actions WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]).fetchall())
        durations = con.execute("SELECT stage, duration_s FROM stage_runs WHERE run_id = ? ORDER BY started_at", [run_id]).fetchall()
        customers = con.execute("SELECT count(*) FROM customers").fetchone()[0] if db.table_exists(con, "customers") else 0
        model = con.execute("SELECT model_version, algorithm, metrics FROM model_registry WHERE run_id = ?", [run_id]).fetchone()
        events = con.execute("SELECT count(*) FROM audit_log WHERE run_id = ?", [run_id]).fetchone()[0]
    return {"customers": customers, "scored": sum(segments.values()), "segments": segments, "actions": actions,
            "durations": durations, "model": model, "audit_events": events}
