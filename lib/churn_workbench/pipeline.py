"""Headless runner: executes the stage notebooks in order with papermill and keeps them as audit
artefacts under <audit dir>/runs/<run_id>/ (the database's workspace, see config.Settings).

The runner never holds the DuckDB file while a stage runs (the stage kernel is another process,
and DuckDB lets only one process open the file). It opens short connections between stages.

No failure is silent: Ctrl-C or SIGTERM marks the run "interrupted" (the caller prints how to
resume it). (An LLM stage whose items mostly fell back fails in the stage itself: the LLM
engine's WORKBENCH_LLM_FALLBACK_THRESHOLD.)
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
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbclient.exceptions
import papermill
from jupyter_client.manager import AsyncKernelManager

from . import audit, cluster, db, run_report
from .audit import AuditLog
from .config import PROJECT_ROOT, Settings
from .errors import PipelineBusy, WorkbenchError, exit_code_for_name
from .kernels import Prestarter
from .llm import progress as llm_progress
from .stages.params import for_stage
from .vocab import STAGES

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = {"ingest": "01_ingest.ipynb", "feedback": "02_feedback_agent.ipynb", "train": "03_train_model.ipynb",
             "predict": "04_prediction_agent.ipynb", "act": "05_action_agent.ipynb"}
# Stage kernels started ahead of their stage (kernels.py): two, because a short stage (predict)
# ends before the kernel after it has finished importing.
KERNELS_AHEAD = 2
# Shell convention for a process ended by a signal: 128 + its number.
INTERRUPT_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


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
    interrupted_by: str | None = None   # "SIGINT" or "SIGTERM" when the run was stopped by a signal
    stage: str | None = None            # the stage that failed or was interrupted


class StageInterrupted(BaseException):
    """Ctrl-C or SIGTERM arrived while a stage ran. A BaseException, like KeyboardInterrupt, so
    that no `except Exception` on the way out of papermill swallows it."""


class _StopSignals:
    """SIGINT and SIGTERM during a run: remember the first one, and interrupt the running stage.

    Between stages the handler only records the signal (the loop stops before the next stage),
    so bookkeeping writes are never cut in half; later signals are ignored while the run is
    being closed, so the run is always marked and its manifest written.
    """

    def __init__(self):
        self.signal: str | None = None
        self.in_stage = False
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signal handlers only live there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        if self.signal is not None:
            return
        self.signal = signal.Signals(signum).name
        if self.in_stage:
            raise StageInterrupted(self.signal)


_SOCKET_DIR: Path | None = None
# Live stage kernels, so an interrupted run can stop its kernel at once (it is in its own session
# and does not receive the terminal's Ctrl-C).
_KERNELS: "weakref.WeakSet[IpcKernelManager]" = weakref.WeakSet()


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
        _KERNELS.add(self)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # The kernel's own stderr is piped through a filter: its lifecycle chatter when it is
        # stopped (after Ctrl-C, or a slow shutdown on a loaded machine, where ipykernel may log
        # a whole traceback about its closed sockets) would otherwise break the runner's promise
        # of one line per failure. Until it is told to stop, everything else reaches the terminal.
        kw["stderr"] = subprocess.PIPE
        self.stopping = threading.Event()
        await super()._async_launch_kernel(kernel_cmd, **kw)
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.stderr is not None:
            threading.Thread(target=_forward_kernel_stderr, args=(process.stderr, self.stopping), daemon=True).start()

    async def shutdown_kernel(self, *args, **kwargs):
        _mark_stopping(self)
        return await super().shutdown_kernel(*args, **kwargs)


def _mark_stopping(km) -> None:
    """From now on the kernel's stderr is shutdown noise (see IpcKernelManager)."""
    stopping = getattr(km, "stopping", None)
    if stopping is not None:
        stopping.set()


# ipykernel's messages when its parent stops it: expected, never actionable.
_KERNEL_LIFECYCLE_NOISE = ("Parent appears to have exited", "KeyboardInterrupt caught in kernel")


def _forward_kernel_stderr(stream, stopping: threading.Event | None = None) -> None:
    """Copy a stage kernel's stderr to ours, without ipykernel's shutdown messages and without
    anything it writes once it has been told to stop."""
    with contextlib.suppress(OSError, ValueError):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            if stopping is not None and stopping.is_set():
                continue
            if not any(noise in line for noise in _KERNEL_LIFECYCLE_NOISE):
                sys.stderr.write(line)
                sys.stderr.flush()


def _kill_stage_kernels() -> None:
    """SIGKILL the stage kernels still alive: after an interrupt nothing may write for the run."""
    for km in list(_KERNELS):
        _mark_stopping(km)
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is None or process.poll() is not None:
            continue
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(Exception):
            process.wait(timeout=10)


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


def execute_stage(stage: str, index: int, params: dict, run_dir: Path, progress: bool, echo=print,
                  km=None) -> StageResult:
    """Execute the stage's notebook; on `km`'s kernel if given (started ahead, see kernels.py)."""
    output = run_dir / f"{index:02d}_{stage}.ipynb"
    started = time.monotonic()
    engine_kwargs = {"km": km} if km is not None else {}
    try:
        # The stage's LLM work happens in the kernel, out of the terminal's sight: its progress
        # lines (counts only, no text) are followed here.
        with llm_progress.following(params["db_path"], params["run_id"], echo):
            papermill.execute_notebook(
                str(NOTEBOOK_DIR / NOTEBOOKS[stage]), str(output), parameters=stage_parameters(stage, params),
                kernel_name="python3", progress_bar=progress, cwd=str(NOTEBOOK_DIR), log_output=False,
                kernel_manager_class=IpcKernelManager, **engine_kwargs,
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
    """Run `stages` for one run. With `resume`, stages that already succeeded for `run_id` are skipped.

    Ctrl-C / SIGTERM end the run with status "interrupted" (result.interrupted_by names the
    signal, result.exit_code is 130 / 143); it can be finished with `resume`.
    """
    with pipeline_lock(settings.db_path, wait), _StopSignals() as stop, \
            cluster.for_run(settings, _expected_items(params, stages, settings.db_path)):
        return _run_locked(settings, params, stages, run_id, resume, progress, echo, stop)


# Stages whose per-customer work runs on the run's Dask cluster (cluster.py).
_CLUSTER_STAGES = ("feedback", "predict", "act")


def _expected_items(params: dict, stages: list[str], db_path: Path) -> int | None:
    """Customers the run will work on, when known before it starts: a run known to be small
    starts no cluster. None: unknown, the cluster is started."""
    if not set(stages) & set(_CLUSTER_STAGES):
        return 0
    if "ingest" not in stages:
        return _customers_in_store(db_path)
    if params.get("customers_path"):
        return _rows_in(Path(params["customers_path"]))
    return int(params.get("synthetic_n") or 0) or None


def _customers_in_store(db_path: Path) -> int | None:
    try:
        with db.session(db_path) as con:
            return con.execute("SELECT count(*) FROM customers").fetchone()[0] if db.table_exists(con, "customers") else 0
    except Exception:  # noqa: BLE001 - an estimate only: unknown starts the cluster
        return None


def _rows_in(path: Path) -> int | None:
    """Rows of a customers file, cheaply: Parquet metadata, or line breaks in a plain CSV
    (None for anything else, e.g. a compressed file: then the cluster is started)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq
            return pq.ParquetFile(path).metadata.num_rows
        if path.suffix.lower() == ".csv":
            with open(path, "rb") as fh:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except (OSError, ValueError):
        return None
    return None


def _run_locked(settings, params, stages, run_id, resume, progress, echo, stop=None) -> RunResult:
    stop = stop or _StopSignals()
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
    kernels = Prestarter(IpcKernelManager, "python3", NOTEBOOK_DIR)
    try:
        _run_stages(settings, params, stages, run_id, todo, run_dir, result, kernels, progress, echo, stop)
    finally:
        kernels.close()
    if stop.signal:
        result.status, result.interrupted_by = "interrupted", stop.signal
        result.exit_code = INTERRUPT_EXIT_CODES.get(stop.signal, 130)
        result.error = result.error or f"interrupted by {stop.signal}"
        result.stage = result.stage or next((s for s in stages if s not in done and s not in
                                             {o.stage for o in result.stages}), None)
    _finish(settings, result, echo, publish=not stop.signal)
    return result


def _run_stages(settings, params, stages, run_id, todo, run_dir, result, kernels, progress, echo, stop) -> None:
    """The stages in order; each one's kernel was started while the one before it ran."""
    for number, stage in enumerate(stages, start=1):
        if stop.signal:
            break
        if stage not in todo:
            echo(f"[{number}/{len(stages)}] {stage}: already done in this run, skipped")
            continue
        echo(f"[{number}/{len(stages)}] {stage}: running {NOTEBOOKS[stage]} ...")
        _record(settings, run_id, stage, "stage_started", sql="DELETE FROM stage_runs WHERE run_id = ? AND stage = ?",
                params=[run_id, stage])
        started = time.monotonic()
        stop.in_stage = True
        km = None
        try:
            if stop.signal:  # arrived while the stage was being recorded
                raise StageInterrupted(stop.signal)
            km = kernels.take(stage)
            for ahead in todo[todo.index(stage) + 1:][:KERNELS_AHEAD]:
                kernels.start(ahead)  # boots and imports while this stage runs
            outcome = execute_stage(stage, STAGES.index(stage) + 1, params, run_dir, progress, echo, km=km)
        except StageInterrupted:
            outcome = StageResult(stage, "failed", time.monotonic() - started, run_dir / f"{STAGES.index(stage) + 1:02d}_{stage}.ipynb",
                                  f"interrupted by {stop.signal}", INTERRUPT_EXIT_CODES.get(stop.signal, 130))
        finally:
            stop.in_stage = False
            if km is not None:
                kernels.stop(km, now=True)
        if stop.signal:
            _kill_stage_kernels()
            # A stage that failed because its kernel was told to stop counts as interrupted too.
            outcome.status, outcome.error = "failed", f"interrupted by {stop.signal}"
            outcome.exit_code = INTERRUPT_EXIT_CODES.get(stop.signal, 130)
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
            result.error, result.stage = outcome.error, stage
            if stop.signal:
                break
            echo(f"[{number}/{len(stages)}] {stage}: FAILED after {outcome.duration_s:.1f}s — {result.error}")
            echo(f"    the executed notebook with the full error: {outcome.notebook}")
            break
        echo(f"[{number}/{len(stages)}] {stage}: done in {outcome.duration_s:.1f}s")
    else:
        if not stop.signal:
            result.status = "succeeded"


def _finish(settings: Settings, result: RunResult, echo=print, publish: bool = True) -> None:
    """Close the run: seal its artefacts in the chain, status, manifest with chain head and
    artefact hashes, then sign the chain head and export it to the heads file. An interrupted
    run skips the dashboard snapshot: whoever stopped it wants it to end now."""
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
    status = {"succeeded": "ok", "interrupted": "interrupted"}.get(result.status, "failed")
    _record(settings, result.run_id, "pipeline", "run_finished", status,
            sql="UPDATE runs SET status = ?, finished_at = now(), error = ? WHERE run_id = ?",
            params=[result.status, result.error, result.run_id], status_detail=result.status,
            peak_stage_kernel_rss_mb=round(peak_child_mb, 1))
    with db.session(settings.db_path) as con:
        head = audit.chain_head(con)
    audit.write_manifest(result.run_dir, result.run_id, head, {}, hashed)
    _export_head(settings, head, echo)
    if publish:
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
    """What the run did and why (see run_report.summary)."""
    return run_report.summary(settings.db_path, run_id)
