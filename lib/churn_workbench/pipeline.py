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
import logging
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

from jupyter_client.manager import AsyncKernelManager

from . import audit, cluster, db, run_report, signing
from .stages import workers
from . import progress as run_progress
from .boundary import paths
from .boundary.run_ids import check_run_id
from .config import PROJECT_ROOT
from .errors import INTERRUPT_EXIT_CODES, UsageError, WorkbenchError, workbench_class
from .kernels import Prestarter
from .stages.params import IngestParams, for_stage
from .runs import RunStore
from .vocab import STAGES
from .workspace import Workspace

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = {"ingest": "01_ingest.ipynb", "feedback": "02_feedback_agent.ipynb", "train": "03_train_model.ipynb",
             "predict": "04_prediction_agent.ipynb", "act": "05_action_agent.ipynb"}
# Stage kernels started ahead of their stage (kernels.py): two, because a short stage (predict)
# ends before the kernel after it has finished importing.
KERNELS_AHEAD = 2


@dataclass
class StageResult:
    stage: str
    status: str
    duration_s: float
    notebook: Path
    error: str | None = None
    exit_code: int = 0
    error_type: str | None = None   # the exception's class name, for the audit record


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
        _silence_notebook_machinery()
        if self.in_stage:
            raise StageInterrupted(self.signal)


# The notebook machinery's loggers. Once a stop is asked, what they report about the stage kernel
# being stopped -- papermill's "Kernel died while waiting for execute reply", asyncio's "Task
# exception was never retrieved" for the cell that was cut off, whichever wins the race on a busy
# machine -- is the stop itself, not news: the runner's one line says what happened.
_NOTEBOOK_MACHINERY = ("papermill", "nbclient", "jupyter_client", "traitlets", "asyncio")


def _silence_notebook_machinery() -> None:
    names = [name for name in logging.root.manager.loggerDict
             if name.split(".")[0] in _NOTEBOOK_MACHINERY] + list(_NOTEBOOK_MACHINERY)
    for name in names:
        logging.getLogger(name).disabled = True


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


def stage_parameters(stage: str, params: dict) -> dict:
    """The stage's declared parameters (stages/params.py): never a secret, because papermill
    writes parameters into the executed notebook."""
    return for_stage(stage, params).as_papermill()


def execute_stage(stage: str, index: int, params: dict, run_dir: Path, progress: bool, echo=print,
                  label: str | None = None, kernels: Prestarter | None = None, ahead: list[str] = ()) -> StageResult:
    """Execute the stage's notebook. With `kernels`: on the stage's kernel from there (started
    while the stage before ran, kernels.py), and the kernels of the stages `ahead` start now, to
    boot and import while this one runs."""
    output = run_dir / f"{index:02d}_{stage}.ipynb"
    started = time.monotonic()
    # The stage works in the kernel, out of the terminal's sight: its progress records (counts
    # only, no text) are followed here and shown as a live line where there is one to show.
    line = run_progress.live_line() if progress else None
    # Imported here, not with the module: papermill and nbclient bring nbformat and jsonschema
    # (seconds of CPU at import), which the command line's other paths and in-process callers
    # never need.
    import nbclient.exceptions
    import papermill
    km = None
    try:
        if kernels is not None:
            km = kernels.take(stage)
            for later in ahead:
                kernels.start(later)
        engine_kwargs = {"km": km} if km is not None else {}
        with run_progress.following(params["db_path"], params["run_id"], label or stage, echo, line):
            papermill.execute_notebook(
                str(NOTEBOOK_DIR / NOTEBOOKS[stage]), str(output), parameters=stage_parameters(stage, params),
                kernel_name="python3", progress_bar=progress and line is None, cwd=str(NOTEBOOK_DIR),
                log_output=False, kernel_manager_class=IpcKernelManager, **engine_kwargs,
            )
        return StageResult(stage, "succeeded", time.monotonic() - started, output)
    except papermill.PapermillExecutionError as exc:
        # The kernel is another process: its exception arrives as a class name. A failed stage
        # ends the run with exit code 1 whatever it was (README); the message explains it.
        return StageResult(stage, "failed", time.monotonic() - started, output, stage_error(stage, exc.ename, exc.evalue),
                           1, exc.ename)
    except (nbclient.exceptions.CellTimeoutError, nbclient.exceptions.DeadKernelError,
            nbclient.exceptions.CellExecutionError, RuntimeError) as exc:
        return StageResult(stage, "failed", time.monotonic() - started, output,
                           f"the {stage} stage's kernel failed ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})",
                           1, type(exc).__name__)
    finally:
        if km is not None:
            kernels.stop(km, now=True)


def stage_error(stage: str, ename: str, evalue: str) -> str:
    """One line that explains a stage's failure: the workbench's own errors say what to do in
    their message (the kind follows it, for searching logs); anything else is named as
    unexpected, with where to look."""
    text = " ".join(str(evalue).split())
    if workbench_class(ename) is not None:
        return f"{text} ({ename})"
    return f"unexpected error in the {stage} stage ({ename}: {text[:300]}); the executed notebook shows where"


def run(workspace: Workspace, params: dict, stages: list[str], run_id: str | None = None, resume: bool = False,
        wait: bool = False, progress: bool = True, echo=print) -> RunResult:
    """Run `stages` for one run. With `resume`, stages that already succeeded for `run_id` are skipped.

    Ctrl-C / SIGTERM end the run with status "interrupted" (result.interrupted_by names the
    signal, result.exit_code is 130 / 143); it can be finished with `resume`.
    """
    # The run's Dask cluster (cluster.py) is entered before any stage kernel starts: kernels
    # inherit its address from this process's environment. Its workers warm up with the stages' work.
    cluster.warm_workers_with(workers.warm_up)
    with workspace.lock(wait, holder="a pipeline run", retry="call it with wait=True"), _StopSignals() as stop, \
            cluster.for_run(workspace.settings, _expected_items(params, stages, workspace), echo):
        return _run_locked(workspace, params, stages, run_id, resume, progress, echo, stop)


# Stages whose per-customer work runs on the run's Dask cluster (cluster.py).
_CLUSTER_STAGES = ("feedback", "predict", "act")


def _expected_items(params: dict, stages: list[str], ws: Workspace) -> int | None:
    """Customers the run will work on, when known before it starts: a run known to be small
    starts no cluster. None: unknown, the cluster is started."""
    if not set(stages) & set(_CLUSTER_STAGES):
        return 0
    if "ingest" not in stages:
        return _customers_in_store(ws)
    if params.get("customers_path"):
        return _rows_in(Path(params["customers_path"]))
    return int(params.get("synthetic_n") or IngestParams.synthetic_n)


def _customers_in_store(ws: Workspace) -> int | None:
    if not ws.db_path.exists():
        return 0
    try:
        with ws.reading() as con:
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


def _run_locked(ws: Workspace, params, stages, run_id, resume, progress, echo, stop=None) -> RunResult:
    stop = stop or _StopSignals()
    store = RunStore(ws)
    settings = ws.settings
    run_id = check_run_id(run_id or new_run_id(), "run id")
    params = dict(params, run_id=run_id, db_path=str(ws.db_path), llm_provider=settings.llm_provider)
    # The run id names a folder: proven inside the audit folder before anything is written there.
    run_dir = paths.inside(ws.runs_dir, run_id)
    if not resume and run_dir.is_dir() and any(run_dir.iterdir()):
        raise UsageError(f"run {run_id}: {run_dir} already holds another run's notebooks; choose another run id")
    if resume:
        done: set[str] = store.succeeded_stages(run_id)
    elif store.exists(run_id):
        raise UsageError(f"run {run_id}: a run with that id exists already; resume it or choose another run id")
    else:
        done = set()
    ws.folder(run_dir)
    if resume:
        store.resume(run_id, sorted(done))
    else:
        store.start(run_id, params, settings.llm_provider, stages)
    ws.stamp()  # a new database's folders are stamped as its own
    result = RunResult(run_id, "running", run_dir=run_dir)
    todo = [s for s in stages if s not in done]
    kernels = Prestarter(IpcKernelManager, "python3", NOTEBOOK_DIR)
    try:
        _run_stages(store, params, stages, run_id, todo, run_dir, result, kernels, progress, echo, stop)
    finally:
        kernels.close()
    if stop.signal:
        result.status, result.interrupted_by = "interrupted", stop.signal
        result.exit_code = INTERRUPT_EXIT_CODES.get(stop.signal, 130)
        result.error = result.error or f"interrupted by {stop.signal}"
        result.stage = result.stage or next((s for s in stages if s not in done and s not in
                                             {o.stage for o in result.stages}), None)
    _finish(ws, result, echo, publish=not stop.signal)
    return result


def _run_stages(store: RunStore, params, stages, run_id, todo, run_dir, result, kernels, progress, echo, stop) -> None:
    """The stages in order; each one's kernel was started while the one before it ran."""
    for number, stage in enumerate(stages, start=1):
        if stop.signal:
            break
        if stage not in todo:
            echo(f"[{number}/{len(stages)}] {stage}: already done in this run, skipped")
            continue
        echo(f"[{number}/{len(stages)}] {stage}: running {NOTEBOOKS[stage]} ...")
        store.stage_started(run_id, stage)
        started = time.monotonic()
        stop.in_stage = True
        try:
            if stop.signal:  # arrived while the stage was being recorded
                raise StageInterrupted(stop.signal)
            outcome = execute_stage(stage, STAGES.index(stage) + 1, params, run_dir, progress, echo,
                                    label=f"[{number}/{len(stages)}] {stage}", kernels=kernels,
                                    ahead=todo[todo.index(stage) + 1:][:KERNELS_AHEAD])
        except StageInterrupted:
            outcome = StageResult(stage, "failed", time.monotonic() - started, run_dir / f"{STAGES.index(stage) + 1:02d}_{stage}.ipynb",
                                  f"interrupted by {stop.signal}", INTERRUPT_EXIT_CODES.get(stop.signal, 130))
        finally:
            stop.in_stage = False
        if stop.signal:
            _kill_stage_kernels()
            # A stage that failed because its kernel was told to stop counts as interrupted too.
            outcome.status, outcome.error = "failed", f"interrupted by {stop.signal}"
            outcome.exit_code, outcome.error_type = INTERRUPT_EXIT_CODES.get(stop.signal, 130), stop.signal
        result.stages.append(outcome)
        store.stage_finished(run_id, stage, outcome.status, outcome.duration_s, outcome.notebook, outcome.error,
                             outcome.error_type if outcome.error else None)
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


def _finish(ws: Workspace, result: RunResult, echo=print, publish: bool = True) -> None:
    """Close the run: seal its artefacts in the chain, status, manifest with chain head and
    artefact hashes, then sign the chain head and export it to the heads file. An interrupted
    run skips the dashboard snapshot: whoever stopped it wants it to end now."""
    store = RunStore(ws)
    peak_child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    hashed = audit.artefact_hashes(store.artefacts(result.run_id), ws.relative)
    # The chain holds every artefact's sha256 too, so replacing a file together with its
    # manifest entry still disagrees with the chain.
    store.event(result.run_id, "pipeline", audit.ARTEFACTS_SEALED,
                artefacts={name: a["sha256"] for name, a in hashed.items()})
    store.finish(result.run_id, result.status, result.error, peak_stage_kernel_rss_mb=round(peak_child_mb, 1))
    with ws.session() as con:
        head = audit.chain_head(con)
    audit.write_manifest(result.run_dir, result.run_id, head, hashed)
    _export_head(ws, head, echo)
    if publish:
        ws.changed(echo)


def _export_head(ws: Workspace, head: dict, echo) -> None:
    """Sign the chain head and append it to the heads file. A failure is reported, not raised:
    the run's own outcome stands, and the next run's head covers this one's events."""
    try:
        record = signing.export_head(ws, head)
    except (OSError, WorkbenchError) as exc:
        echo(f"warning: the chain head was NOT signed and exported: {exc}")
        return
    echo(signing.describe(record, ws.settings.heads_file))


def run_summary(ws: Workspace, run_id: str) -> dict:
    """What the run did and why (see run_report.summary)."""
    return run_report.summary(ws.db_path, run_id)
