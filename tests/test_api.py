"""The Python API (`import churn_workbench as wb`): light to import, the command line's checks,
the store as DataFrames, and a notebook that uses all of it on real runs."""
from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import tomllib

import nbformat
import papermill
import pytest

import churn_workbench
from churn_workbench import api, db
from churn_workbench.errors import UsageError
from conftest import ROOT


def test_import_is_light_and_the_api_loads_on_first_use():
    code = ("import sys, churn_workbench as wb; light = 'pandas' not in sys.modules and 'duckdb' not in sys.modules; "
            "wb.run; print(light, 'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_no_api_name_is_shadowed_by_a_submodule():
    """An imported submodule becomes the package's attribute: `churn_workbench.runs` would then be
    the module runs.py, not a function."""
    submodules = {m.name for m in pkgutil.iter_modules(churn_workbench.__path__)}
    assert not set(churn_workbench._API) & submodules
    assert set(churn_workbench._API) == set(api.__all__)
    assert churn_workbench.compare_runs is api.compare_runs and "run" in dir(churn_workbench)


def test_console_script_and_python_m_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"churn-workbench": "churn_workbench.__main__:main"}
    from churn_workbench.__main__ import main
    assert callable(main)


def test_run_checks_its_arguments_before_anything_is_written(tmp_path):
    store = tmp_path / "data" / "workbench.duckdb"
    with pytest.raises(TypeError, match="unknown argument.*max_rows.*stage parameters: .*max_train_rows"):
        api.run(db=store, max_rows=5)
    with pytest.raises(UsageError, match="--customers .*no-such.csv: file does not exist"):
        api.run(db=store, customers=tmp_path / "no-such.csv")
    with pytest.raises(UsageError, match="--stages: unknown stage"):
        api.run(db=store, stages=["ingest", "score"])
    assert not store.exists()


def test_tables_as_dataframes(tmp_path):
    store = tmp_path / "workbench.duckdb"
    with db.session(store) as con:
        con.execute("INSERT INTO runs (run_id, status) VALUES ('r1', 'succeeded'), ('r2', 'failed')")
        con.execute("INSERT INTO predictions (run_id, customer_id, churn_probability, segment) VALUES "
                    "('r1', 'c1', 0.9, 'High'), ('r2', 'c1', 0.1, 'Low')")
    assert "predictions" in api.tables(db=store)
    assert api.table("predictions", run_id="r2", db=store)["segment"].tolist() == ["Low"]
    assert len(api.table("predictions", db=store)) == 2
    assert set(api.list_runs(db=store)["run_id"]) == {"r1", "r2"}
    with pytest.raises(UsageError, match="no table 'predictionz'.*tables: .*predictions"):
        api.table("predictionz", db=store)
    with pytest.raises(UsageError, match="has no run_id column"):
        api.table("schema_version", run_id="r1", db=store)
    with pytest.raises(UsageError, match="no database yet"):
        api.table("runs", db=tmp_path / "other.duckdb")


@pytest.mark.slow
def test_the_api_notebook_runs_top_to_bottom(workspace, tmp_path, monkeypatch):
    """notebooks/api_tour.ipynb on 200 customers: two runs, their comparison, the store, verify."""
    monkeypatch.setenv("WORKBENCH_MODEL_MIN_AUC", "0")  # 200 customers cannot always clear the quality floor
    monkeypatch.setenv("WORKBENCH_MODEL_NESTED_MAX_ROWS", "0")  # and with the floor off, nesting changes nothing
    out = tmp_path / "api_tour.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "api_tour.ipynb"), str(out), kernel_name="python3",
                               parameters={"db": str(workspace.db_path), "customers": 200},
                               cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "SUCCEEDED" in text and "targeting: by risk" in text            # the first run's summary
    assert "Comparing run A" in text and "High,Medium,Low" in text          # the comparison
    assert "'predictions'" in text and "audit OK: " in text                 # tables, verify
    runs = api.list_runs(db=workspace.db_path)
    assert len(runs) == 2 and set(runs["status"]) == {"succeeded"}


@pytest.mark.slow
def test_console_script_runs(tmp_path):
    """The `churn-workbench` script, written from pyproject's entry point by the script maker pip
    itself uses on install, answers --help and suggests the option meant by a typo."""
    from pip._vendor.distlib.scripts import ScriptMaker
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["churn-workbench"]
    maker = ScriptMaker(None, str(tmp_path), add_launchers=False)
    maker.executable = sys.executable
    maker.variants = {""}
    script, = maker.make(f"churn-workbench = {entry}")
    env = dict(os.environ)
    helped = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: churn-workbench"), helped.stderr
    typo = subprocess.run([script, "--synthetc", "500"], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert typo.returncode == 2 and "did you mean --synthetic?" in typo.stderr
    module = subprocess.run([sys.executable, "-m", "churn_workbench", "--help"], capture_output=True, text=True,
                            timeout=120, env=env, cwd=tmp_path)
    assert module.returncode == 0 and module.stdout.startswith("usage: python -m churn_workbench")
