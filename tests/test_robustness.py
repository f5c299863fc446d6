"""Crashes, bad input and concurrent runs: nothing is lost, duplicated or half-written."""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pytest

from churn_workbench import synthetic
from conftest import ROOT, Workspace, pipeline_env

pytestmark = pytest.mark.slow
CLI = [sys.executable, str(ROOT / "run_pipeline.py"), "--quiet"]


def cli(ws, *args, timeout=600):
    return subprocess.run([*CLI, *args], cwd=ROOT, env=pipeline_env(ws), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def db_digest(ws) -> str:
    return hashlib.sha256(ws.db_path.read_bytes()).hexdigest() if ws.db_path.exists() else "absent"


def table_rows(ws, sql):
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A workspace with one successful run, and customer files to corrupt."""
    root = tmp_path_factory.mktemp("robust")
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir()
    data = synthetic.generate(300, 11)
    data.customers.to_csv(root / "customers.csv", index=False)
    data.feedback.to_csv(root / "feedback.csv", index=False)
    data.consent.to_csv(root / "consent.csv", index=False)
    first = cli(ws, "--customers", str(root / "customers.csv"), "--feedback", str(root / "feedback.csv"),
                "--consent", str(root / "consent.csv"))
    assert first.returncode == 0, first.stdout + first.stderr
    return ws


def _bad_files(root):
    good = pd.read_csv(root / "customers.csv")
    files = {}
    (root / "empty.csv").write_text("")
    files["empty file"] = ("customers", root / "empty.csv")
    (root / "junk.csv").write_bytes(bytes(range(256)) * 40)
    files["not CSV"] = ("customers", root / "junk.csv")
    (root / "latin1.csv").write_bytes("customer_id,name,churned\nC1,Jos\xe9 M\xfcller,1\n".encode("utf-16"))
    files["wrongly encoded"] = ("customers", root / "latin1.csv")
    good.drop(columns=["customer_id"]).to_csv(root / "noid.csv", index=False)
    files["missing id column"] = ("customers", root / "noid.csv")
    pd.concat([good, good.head(3)]).to_csv(root / "dupes.csv", index=False)
    files["duplicate ids"] = ("customers", root / "dupes.csv")
    odd = good.copy()
    odd["churned"] = odd["churned"].astype("object")
    odd.loc[5, "churned"] = "maybe"
    odd.to_csv(root / "badlabel.csv", index=False)
    files["unexpected label"] = ("customers", root / "badlabel.csv")
    huge = pd.DataFrame({"customer_id": [good["customer_id"][0]], "text": ["complaint " * 1_100_000]})
    huge.to_csv(root / "huge_feedback.csv", index=False)
    files["10 MB feedback text"] = ("feedback", root / "huge_feedback.csv")
    (root / "control.csv").write_text("customer_id,text\nC0000001,hello\x00\x07\x1b world\n")
    files["control characters"] = ("feedback", root / "control.csv")
    files["path that does not exist"] = ("customers", root / "nope.csv")
    return files


@pytest.mark.parametrize("case", ["empty file", "not CSV", "wrongly encoded", "missing id column", "duplicate ids",
                                  "unexpected label", "10 MB feedback text", "control characters",
                                  "path that does not exist"])
def test_bad_input_one_line_exit_2_and_store_untouched(base, case):
    ws = base
    kind, path = _bad_files(ws.root)[case]
    before = db_digest(ws)
    runs_before = table_rows(ws, "SELECT run_id, status FROM runs ORDER BY run_id")
    args = ["--customers", str(path)] if kind == "customers" else \
        ["--customers", str(ws.root / "customers.csv"), "--feedback", str(path)]
    result = cli(ws, *args, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert path.name in lines[0]
    assert db_digest(ws) == before
    assert table_rows(ws, "SELECT run_id, status FROM runs ORDER BY run_id") == runs_before


def test_locked_database_is_a_clear_error(base):
    ws = base
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import duckdb, time; c = duckdb.connect({str(ws.db_path)!r}); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli(ws, "--synthetic", "50")
        assert result.returncode == 2
        assert "in use by another process" in result.stderr and str(ws.db_path) in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_second_concurrent_run_is_refused_clearly(tmp_path):
    ws = Workspace(tmp_path, tmp_path / "data", tmp_path / "data" / "workbench.duckdb", tmp_path / "audit")
    ws.data_dir.mkdir()
    first = subprocess.Popen([*CLI, "--synthetic", "300"], cwd=ROOT, env=pipeline_env(ws), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not list((ws.audit_dir / "runs").glob("*/01_ingest.ipynb")) and time.time() < deadline:
            time.sleep(0.2)
        second = cli(ws, "--synthetic", "300")
        assert second.returncode == 2
        assert "another pipeline run is using this database" in second.stderr
    finally:
        out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert table_rows(ws, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(1, 1)]


def _stage_cell_running(path) -> bool:
    """papermill saves the executed notebook as each cell starts: is the stage's `.run(` cell executing?"""
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return False
    return any(c.get("metadata", {}).get("papermill", {}).get("status") == "running" and ".run(" in "".join(c["source"])
               for c in cells)


def _kill_during(ws, run_id, notebook, seconds_after=0.3):
    proc = subprocess.Popen([*CLI, "--synthetic", "400", "--seed", "5", "--run-id", run_id], cwd=ROOT,
                            env=pipeline_env(ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    target = ws.audit_dir / "runs" / run_id / notebook
    deadline = time.time() + 300
    while not _stage_cell_running(target) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    time.sleep(seconds_after)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its stage kernel, as in a crash
    proc.wait()


def _outputs(ws, run_id):
    return {
        "predictions": table_rows(ws, f"SELECT customer_id, round(churn_probability, 9), segment, drivers FROM predictions WHERE run_id = '{run_id}' ORDER BY 1"),
        "actions": table_rows(ws, f"SELECT customer_id, action_type, status, message FROM actions WHERE run_id = '{run_id}' ORDER BY 1"),
        "analysis": table_rows(ws, f"SELECT feedback_id, sentiment, topics, status FROM feedback_analysis WHERE run_id = '{run_id}' ORDER BY 1"),
        "models": table_rows(ws, f"SELECT count(*) FROM model_registry WHERE run_id = '{run_id}'"),
    }


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    root = tmp_path_factory.mktemp("undisturbed")
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir()
    result = cli(ws, "--synthetic", "400", "--seed", "5", "--run-id", "R1")
    assert result.returncode == 0, result.stdout + result.stderr
    return _outputs(ws, "R1")


@pytest.mark.parametrize("notebook", ["02_feedback.ipynb", "04_predict.ipynb"])
def test_sigkill_then_resume_gives_the_undisturbed_rows(tmp_path, undisturbed, notebook):
    ws = Workspace(tmp_path, tmp_path / "data", tmp_path / "data" / "workbench.duckdb", tmp_path / "audit")
    ws.data_dir.mkdir()
    # The same subject key as the undisturbed run is irrelevant to outputs; the run id fixes the control group.
    _kill_during(ws, "R1", notebook)
    assert table_rows(ws, "SELECT status FROM runs WHERE run_id = 'R1'") == [("running",)]
    resumed = cli(ws, "--resume", "R1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "already done in this run, skipped" in resumed.stdout
    assert _outputs(ws, "R1") == undisturbed
    verify = cli(ws, "verify")
    assert verify.returncode == 0, verify.stdout


def test_unconfigured_llm_backend_is_a_usage_error_before_any_run(tmp_path):
    ws = Workspace(tmp_path, tmp_path / "data", tmp_path / "data" / "workbench.duckdb", tmp_path / "audit")
    env = pipeline_env(ws)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY"):
        env.pop(name, None)
    result = subprocess.run([*CLI, "--llm", "openai"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not ws.db_path.exists()


# ---------------------------------------------------------------- issue 14, item 7: no failure is silent

def test_compressed_csv_is_read_as_the_csv_it_holds(tmp_path):
    from churn_workbench import inputs
    import real_tables as rt
    plain = rt.telco_csv(tmp_path / "telco.csv", n=80)
    expected = inputs.read_table(plain)
    for path in (rt.gzip_copy(plain, tmp_path / "telco.csv.gz"), rt.zip_copy(plain, tmp_path / "telco.zip")):
        pd.testing.assert_frame_equal(inputs.read_table(path), expected)
    two = rt.zip_copy(plain, tmp_path / "two.zip", extra={"notes.txt": b"hello"})
    with pytest.raises(inputs.InputError, match="exactly one CSV or Parquet file"):
        inputs.read_table(two)
    (tmp_path / "cut.csv.gz").write_bytes((tmp_path / "telco.csv.gz").read_bytes()[:200])
    with pytest.raises(inputs.InputError, match="damaged gzip"):
        inputs.read_table(tmp_path / "cut.csv.gz")


def test_nested_parquet_column_is_a_one_line_error_naming_it(tmp_path):
    from churn_workbench import inputs
    import real_tables as rt
    path = rt.nested_parquet(tmp_path / "nested.parquet")
    with pytest.raises(inputs.InputError) as excinfo:
        inputs.read_customers(path)
    message = str(excinfo.value)
    assert "column 'tags'" in message and "nested" in message and "\n" not in message
    ws = Workspace(tmp_path, tmp_path / "data", tmp_path / "data" / "workbench.duckdb", tmp_path / "audit")
    result = cli(ws, "--customers", str(path), timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "column 'tags'" in result.stderr
    assert not ws.db_path.exists()


def _wait_for(path, proc, seconds=300):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"


def test_ctrl_c_marks_the_run_interrupted_and_the_printed_resume_works(tmp_path):
    """Item 7 (Ctrl-C) with items 1 (header-only feedback), 5 (the hint carries --db) and 6 (--db workspace)."""
    import real_tables as rt
    customers = rt.customers_only_csv(tmp_path / "customers.csv", n=120)
    feedback = rt.header_only_csv(tmp_path / "feedback.csv", "customer_id,text,created_at")
    db_path = tmp_path / "elsewhere" / "wb.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    proc = subprocess.Popen([*CLI, "--customers", str(customers), "--feedback", str(feedback), "--stages", "ingest,feedback",
                             "--db", str(db_path), "--run-id", "R-int"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(db_path.parent / "audit" / "runs" / "R-int" / "02_feedback.ipynb", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out + err, err
    assert "interrupted (Ctrl-C) during the feedback stage" in lines[0] and "marked interrupted" in lines[0]
    assert table_rows(Workspace(tmp_path, db_path.parent, db_path, db_path.parent / "audit"),
                      "SELECT status FROM runs WHERE run_id = 'R-int'") == [("interrupted",)]
    resume = lines[0].split("resume it with: ", 1)[1]
    assert resume == f".venv/bin/python run_pipeline.py --resume R-int --db {db_path}"
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


def test_sigterm_ends_with_one_line_and_marks_the_run_interrupted(tmp_path):
    ws = Workspace(tmp_path, tmp_path / "data", tmp_path / "data" / "workbench.duckdb", tmp_path / "audit")
    proc = subprocess.Popen([*CLI, "--synthetic", "50", "--stages", "ingest", "--run-id", "R-term"], cwd=ROOT,
                            env=pipeline_env(ws), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(ws.audit_dir / "runs" / "R-term" / "01_ingest.ipynb", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted (SIGTERM)" in lines[0], err
    assert lines[0].endswith("run_pipeline.py --resume R-term")
    assert table_rows(ws, "SELECT status FROM runs") == [("interrupted",)]
    assert table_rows(ws, "SELECT status, error FROM stage_runs") == [("failed", "interrupted by SIGTERM")]
    assert (ws.audit_dir / "runs" / "R-term" / "manifest.json").is_file()


def _make(target_dir, *args, timeout=60):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=target_dir, capture_output=True, text=True,
                          timeout=timeout)


def test_make_rebuilds_a_venv_made_by_an_unsupported_python(tmp_path):
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    (tmp_path / "pyproject.toml").write_text("")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Python 3.9.2'; exit 0; fi\nexit 1\n")
    fake.chmod(0o755)
    (tmp_path / ".venv" / ".installed").write_text("")
    result = _make(tmp_path, "-n", "setup", f"PYTHON={sys.executable}")
    assert ".venv was built by Python 3.9.2, not Python 3.11 or 3.12: removing it" in result.stdout, result.stdout
    assert not (tmp_path / ".venv").exists()
    assert "-m venv .venv" in result.stdout  # and the dry run shows it being rebuilt
    # A venv whose interpreter disappeared (the base Python was removed) is rebuilt the same way.
    fake.parent.mkdir(parents=True)
    fake.symlink_to(tmp_path / "gone" / "python3.11")
    result = _make(tmp_path, "-n", "setup", f"PYTHON={sys.executable}")
    assert "a Python that no longer runs" in result.stdout and not (tmp_path / ".venv").exists()
    # A healthy venv is left alone.
    healthy = _make(ROOT, "-n", "setup")
    assert "removing it" not in healthy.stdout


def test_make_dashboard_refuses_a_taken_port_clearly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _make(ROOT, "dashboard", f"PORT={port}", f"DB={tmp_path / 'wb.duckdb'}")
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "make dashboard PORT=" in result.stderr


def test_make_targets_take_another_database():
    dry = _make(ROOT, "-n", "dashboard", "verify", "run", "DB=/tmp/other/wb.duckdb")
    assert "WORKBENCH_DB=/tmp/other/wb.duckdb .venv/bin/voila notebooks/dashboard.ipynb" in dry.stdout
    assert "run_pipeline.py verify --db /tmp/other/wb.duckdb" in dry.stdout
    assert "run_pipeline.py --db /tmp/other/wb.duckdb" in dry.stdout


def test_plain_voila_finds_the_offline_template(tmp_path):
    """`voila notebooks/dashboard.ipynb` as Voila users type it (no JUPYTER_PATH, no Makefile)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH",) and not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_DB=str(tmp_path / "ws" / "wb.duckdb"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = open(tmp_path / "voila.log", "w")
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "voila"), "notebooks/dashboard.ipynb", "--no-browser",
                             f"--port={port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        import urllib.request
        deadline, page = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None and page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                    page = (response.status, response.read().decode())
            except OSError:
                time.sleep(0.3)
        assert page is not None, (tmp_path / "voila.log").read_text()[-2000:]
        status, body = page
        assert status == 200
        assert "Content-Security-Policy" in body  # the workbench template, not the stock one
        assert not re.search(r"cdn\.|unpkg|jsdelivr|cdnjs", body)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
