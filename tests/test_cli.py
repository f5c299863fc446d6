"""The command line: `--help` and usage errors answer before the heavy stack is imported; bad
input is one line, exit 2, and leaves the store untouched; a held database or an unconfigured
backend is a clear usage error before any run is recorded."""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from churn_workbench import synthetic
from churn_workbench.vocab import LLM_BACKENDS, LLM_PROFILES
from conftest import SMALL_TABLE_MODEL, ROOT, Workspace, pipeline_env, workspace_env
from inprocess import cli

# What `--help` and a usage error must not import: the stack a run needs, seconds of CPU on a busy machine.
HEAVY = ("pandas", "numpy", "duckdb", "pyarrow", "papermill", "nbclient", "jupyter_client", "sklearn", "lightgbm",
         "presidio_analyzer", "matplotlib", "groq", "openai", "churn_workbench.db", "churn_workbench.config")


def _imported(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run run_pipeline.py with `python -X importtime`: its result and every module it imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "run_pipeline.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    modules = {m.group(1).strip() for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", result.stderr, re.M)}
    assert "churn_workbench.cli" in modules, result.stderr[-2000:]
    return result, modules


@pytest.mark.parametrize("args", [("--help",), ("subject", "--help"), ("subject", "export", "--help")],
                         ids=lambda a: " ".join(a))
def test_help_imports_nothing_heavy(args):
    result, modules = _imported(*args)
    assert result.returncode == 0 and "usage: run_pipeline.py" in result.stdout
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}, "imported for --help"


@pytest.mark.parametrize("args,message", [
    (("--stages", "ingest,nope"), "--stages: unknown stage(s) nope"),
    (("--synthetic", "0"), "--synthetic 0: needs a positive number"),
    (("--customers", "/no/such/customers.csv"), "--customers /no/such/customers.csv: file does not exist"),
    (("--feedback", "f.csv"), "f.csv: file does not exist"),
    (("--llm", "gpt"), "invalid choice: 'gpt'"),
    (("verify", "--heads", "/no/heads.jsonl"), "--heads file does not exist"),
    (("subject", "forget"), "--customer"),
    (("--no-such-flag",), "--no-such-flag"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_usage_errors_are_one_line_exit_2_and_import_nothing_heavy(args, message):
    result, modules = _imported(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("import time:")]
    assert len(lines) == 1 and message in lines[0], lines
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}


def test_llm_choices_are_the_registered_backends_and_profiles():
    """The command line offers the names from vocab.py without importing the LLM layer."""
    from churn_workbench.profiles import PROFILES
    from churn_workbench.llm.registry import PROVIDERS
    assert set(LLM_BACKENDS) == set(PROVIDERS) and set(LLM_PROFILES) == set(PROFILES)


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with one successful run (stages in this process), and a customers file to corrupt."""
    root = tmp_path_factory.mktemp("store")
    ws = Workspace.at(root / "ws")
    data = synthetic.generate(60, 11)
    for name in ("customers", "feedback", "consent"):
        getattr(data, name).to_csv(root / f"{name}.csv", index=False)
    first = cli("--quiet", "--customers", root / "customers.csv", "--feedback", root / "feedback.csv",
                "--consent", root / "consent.csv", env=dict(workspace_env(ws), **SMALL_TABLE_MODEL))
    assert first.returncode == 0, first.stdout + first.stderr
    return ws


def _bad_file(root, case):
    good = pd.read_csv(root / "customers.csv")
    if case == "empty file":
        (root / "empty.csv").write_text("")
        return "customers", root / "empty.csv"
    if case == "not CSV":
        (root / "junk.csv").write_bytes(bytes(range(256)) * 40)
        return "customers", root / "junk.csv"
    if case == "wrongly encoded":
        (root / "utf16.csv").write_bytes("customer_id,name,churned\nC1,Jos\xe9 M\xfcller,1\n".encode("utf-16"))
        return "customers", root / "utf16.csv"
    if case == "missing id column":
        good.drop(columns=["customer_id"]).to_csv(root / "noid.csv", index=False)
        return "customers", root / "noid.csv"
    if case == "duplicate ids":
        pd.concat([good, good.head(3)]).to_csv(root / "dupes.csv", index=False)
        return "customers", root / "dupes.csv"
    if case == "unexpected label":
        odd = good.copy()
        odd["churned"] = odd["churned"].astype("object")
        odd.loc[5, "churned"] = "maybe"
        odd.to_csv(root / "badlabel.csv", index=False)
        return "customers", root / "badlabel.csv"
    if case == "10 MB feedback text":
        pd.DataFrame({"customer_id": [good["customer_id"][0]], "text": ["complaint " * 1_100_000]}).to_csv(
            root / "huge_feedback.csv", index=False)
        return "feedback", root / "huge_feedback.csv"
    if case == "control characters":
        (root / "control.csv").write_text("customer_id,text\nC0000001,hello\x00\x07\x1b world\n")
        return "feedback", root / "control.csv"
    return "customers", root / "nope.csv"


def _digest(ws) -> str:
    return hashlib.sha256(ws.db_path.read_bytes()).hexdigest()


def _runs(ws):
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        return con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("case", ["empty file", "not CSV", "wrongly encoded", "missing id column", "duplicate ids",
                                  "unexpected label", "10 MB feedback text", "control characters",
                                  "path that does not exist"])
def test_bad_input_one_line_exit_2_and_store_untouched(store, case):
    kind, path = _bad_file(store.root.parent, case)
    before, runs_before = _digest(store), _runs(store)
    args = ["--customers", path] if kind == "customers" else \
        ["--customers", store.root.parent / "customers.csv", "--feedback", path]
    result = cli("--quiet", *args, env=workspace_env(store))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert path.name in lines[0]
    assert _digest(store) == before and _runs(store) == runs_before


def test_bad_input_is_one_line_exit_2_from_the_real_process(store):
    """The same contract from a separate process, as a shell or a scheduler sees it."""
    kind, path = _bad_file(store.root.parent, "missing id column")
    result = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--customers", str(path)],
                            cwd=ROOT, env=pipeline_env(store), capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "noid.csv" in result.stderr


def test_locked_database_is_a_clear_error(store):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(store.db_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli("--quiet", "--synthetic", "50", env=workspace_env(store))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "in use by another process" in result.stderr and str(store.db_path) in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert len(_runs(store)) == 1   # no run was recorded


def test_unconfigured_llm_backend_is_a_usage_error_before_any_run(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    result = cli("--quiet", "--llm", "openai", env=workspace_env(ws))
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not ws.db_path.exists()
