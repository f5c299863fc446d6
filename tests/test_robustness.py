"""Crashes, bad input and concurrent runs: nothing is lost, duplicated or half-written."""
from __future__ import annotations

import hashlib
import json
import os
import signal
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
