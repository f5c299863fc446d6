"""Crashes, interrupts and concurrent runs: nothing is lost, duplicated or half-written.

These start `run_pipeline.py` for real (signals, kernels and file locks only exist across
processes). Where a run must be caught in the middle of a stage, the stage is held there: it
waits for an answer from a fake LLM server that answers only when the test says so, and the test
acts once the request has arrived (an event the code emits, not a sleep).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from conftest import SMALL_TABLE_MODEL, ROOT, Workspace, pipeline_env
from fake_llm_server import FakeLLMServer
from workspaces import LOCAL_RUN, llm_env

CLI = [sys.executable, str(ROOT / "run_pipeline.py"), "--quiet"]


class HeldServer(FakeLLMServer):
    """Records each request, then answers only once `release` is set; `arrived` is set by the first."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.arrived, self.release = threading.Event(), threading.Event()

    def answer(self, request, content_faults):
        self.arrived.set()
        self.release.wait(600)
        return super().answer(request, content_faults)

    def stop(self) -> None:
        self.release.set()
        super().stop()


def held_env(server: HeldServer) -> dict:
    # The client must wait as long as the test holds the answer back.
    return dict(llm_env(server), WORKBENCH_LLM_TIMEOUT="900")


def table_rows(db_path, sql):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _in_feedback_stage(server: HeldServer, proc: subprocess.Popen) -> None:
    """Block until the run's feedback stage has sent its first request (and is waiting for the answer)."""
    while not server.arrived.wait(0.5):
        assert proc.poll() is None, f"the run ended before its feedback stage sent anything: {proc.communicate()}"


@pytest.mark.slow
def test_second_concurrent_run_is_refused_clearly(tmp_path):
    """The second run meets the pipeline lock, never the first run's DuckDB file lock (the command
    line takes the pipeline lock before it opens the database)."""
    ws = Workspace.at(tmp_path)
    with HeldServer() as server:
        first = subprocess.Popen([*CLI, "--synthetic", "40", "--llm", "openai", "--stages", "ingest,feedback"], cwd=ROOT,
                                 env=pipeline_env(ws, **held_env(server)), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            _in_feedback_stage(server, first)   # the first run holds the lock and its kernel holds the database
            second = subprocess.run([*CLI, "--synthetic", "40"], cwd=ROOT, env=pipeline_env(ws), capture_output=True,
                                    text=True, timeout=300, stdin=subprocess.DEVNULL)
        finally:
            server.release.set()
            out, _ = first.communicate(timeout=600)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"this database is in use by a pipeline run (pid {first.pid})" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.returncode == 0, out
    assert table_rows(ws.db_path, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(1, 1)]


def _stage_cell_running(path) -> bool:
    """papermill saves the executed notebook as each cell starts: is the stage's `.run(` cell executing?"""
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return False
    return any(c.get("metadata", {}).get("papermill", {}).get("status") == "running" and ".run(" in "".join(c["source"])
               for c in cells)


def _kill_during(ws, run_id, notebook):
    proc = subprocess.Popen([*CLI, *LOCAL_RUN, "--run-id", run_id], cwd=ROOT, env=pipeline_env(ws),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    target = ws.audit_dir / "runs" / run_id / notebook
    deadline = time.time() + 600
    while not _stage_cell_running(target) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)   # polling the notebook papermill keeps saving
    assert proc.poll() is None, "the run finished before it could be killed"
    # A moment into the stage's work, so the kill is likely to land mid-write; the assertions hold
    # wherever it lands.
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner, as in a crash; its stage kernel dies with it
    proc.wait()
    _until_the_database_is_released(ws.db_path)


def _until_the_database_is_released(db_path):
    """The stage kernel is killed by the runner's death (kernels.py), in its own process group:
    its exit, and with it the database's file lock, may trail the runner's by a moment."""
    deadline = time.time() + 120
    while True:
        try:
            duckdb.connect(str(db_path), read_only=True).close()
            return
        except duckdb.IOException:
            assert time.time() < deadline, "the killed run's kernel still holds the database"
            time.sleep(0.05)


def _outputs(ws, run_id):
    rows = lambda sql: table_rows(ws.db_path, sql)  # noqa: E731
    return {
        "predictions": rows(f"SELECT customer_id, round(churn_probability, 9), segment, drivers FROM predictions WHERE run_id = '{run_id}' ORDER BY 1"),
        "actions": rows(f"SELECT customer_id, action_type, status, message FROM actions WHERE run_id = '{run_id}' ORDER BY 1"),
        "analysis": rows(f"SELECT feedback_id, sentiment, topics, status FROM feedback_analysis WHERE run_id = '{run_id}' ORDER BY 1"),
        "models": rows(f"SELECT count(*) FROM model_registry WHERE run_id = '{run_id}'"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["02_feedback.ipynb", "04_predict.ipynb"])
def test_sigkill_then_resume_gives_the_undisturbed_rows(tmp_path, built_local, notebook):
    """The undisturbed rows: the built local workspace's first run, made with the same arguments
    and run id (the run id fixes the control group; the subject key does not change the rows)."""
    undisturbed = _outputs(built_local.restore(), "run-1")
    ws = Workspace.at(tmp_path)
    _kill_during(ws, "run-1", notebook)
    assert table_rows(ws.db_path, "SELECT status FROM runs WHERE run_id = 'run-1'") == [("running",)]
    resumed = subprocess.run([*CLI, "--resume", "run-1"], cwd=ROOT, env=pipeline_env(ws), capture_output=True,
                             text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "already done in this run, skipped" in resumed.stdout
    assert _outputs(ws, "run-1") == undisturbed
    verify = subprocess.run([*CLI, "verify"], cwd=ROOT, env=pipeline_env(ws), capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout


@pytest.mark.slow
def test_ctrl_c_marks_the_run_interrupted_and_the_printed_resume_works(tmp_path):
    """Ctrl-C in a stage: one line that says where, the run marked interrupted, and the printed
    resume command (it carries --db) works as printed; the --db folder is the run's workspace."""
    db_path = tmp_path / "elsewhere" / "wb.duckdb"
    with HeldServer() as server:
        # No WORKBENCH_* paths: everything is derived from --db (keys and heads from the test's home).
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
        env.update(held_env(server), **SMALL_TABLE_MODEL)
        proc = subprocess.Popen([*CLI, "--synthetic", "40", "--llm", "openai", "--stages", "ingest,feedback",
                                 "--db", str(db_path), "--run-id", "R-int"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        _in_feedback_stage(server, proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 130, out + err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in out + err, err
        assert "interrupted (Ctrl-C) during the feedback stage" in lines[0] and "marked interrupted" in lines[0]
        assert table_rows(db_path, "SELECT status FROM runs WHERE run_id = 'R-int'") == [("interrupted",)]
        resume = lines[0].split("resume it with: ", 1)[1]
        assert resume == f".venv/bin/python run_pipeline.py --resume R-int --db {db_path}"
        server.release.set()
        resumed = subprocess.run(resume.split(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "ingest: already done in this run, skipped" in resumed.stdout
    assert "train" not in resumed.stdout.split("Run R-int")[0]  # finishes only the stages the run set out to do
    # Everything of this database is beside it, and verify --db finds it.
    assert (db_path.parent / "audit" / "runs" / "R-int" / "manifest.json").is_file()
    assert (db_path.parent / ".subject_key").is_file() and (db_path.parent / "snapshot").is_dir()
    assert not (ROOT / "audit" / "runs" / "R-int").exists()
    verify = subprocess.run([*CLI, "verify", "--db", str(db_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert verify.returncode == 0 and "audit OK" in verify.stdout, verify.stdout + verify.stderr


@pytest.mark.slow
def test_sigterm_ends_with_one_line_and_marks_the_run_interrupted(tmp_path):
    ws = Workspace.at(tmp_path)
    with HeldServer() as server:
        proc = subprocess.Popen([*CLI, "--synthetic", "40", "--llm", "openai", "--stages", "ingest,feedback",
                                 "--run-id", "R-term"], cwd=ROOT, env=pipeline_env(ws, **held_env(server)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _in_feedback_stage(server, proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted (SIGTERM) during the feedback stage" in lines[0], err
    assert lines[0].endswith("run_pipeline.py --resume R-term")
    assert table_rows(ws.db_path, "SELECT status FROM runs") == [("interrupted",)]
    assert table_rows(ws.db_path, "SELECT stage, status, error FROM stage_runs ORDER BY stage") == [
        ("feedback", "failed", "interrupted by SIGTERM"), ("ingest", "succeeded", None)]
    assert (ws.audit_dir / "runs" / "R-term" / "manifest.json").is_file()


# --------------------------------------------------------------------------- the kernel's stderr
def test_kernel_shutdown_chatter_is_dropped_and_other_kernel_stderr_kept(capsys):
    import io

    from churn_workbench.pipeline import _forward_kernel_stderr
    _forward_kernel_stderr(io.BytesIO(b"[IPKernelApp] WARNING | Parent appears to have exited, shutting down.\n"
                                      b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n"
                                      b"Segmentation fault in libfoo\n"))
    assert capsys.readouterr().err == "Segmentation fault in libfoo\n"


def test_kernel_stderr_after_the_stop_request_is_dropped(capsys):
    import io
    import threading

    from churn_workbench.pipeline import _forward_kernel_stderr
    stopping = threading.Event()
    stopping.set()
    _forward_kernel_stderr(io.BytesIO(b"ERROR:tornado.general:Uncaught exception in ZMQStream callback\n"
                                      b"zmq.error.ZMQError: Socket operation on non-socket\n"), stopping)
    assert capsys.readouterr().err == ""
