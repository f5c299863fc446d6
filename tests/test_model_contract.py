"""A deployed model belongs to a data contract: one workspace moves between datasets, each keeps
its own model line, and no model ever scores customers without its columns."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from churn_workbench import db
from churn_workbench.model import contract as contracts
from conftest import ROOT, Workspace, pipeline_env

TELCO = ["--customers", str(ROOT / "docs/examples/telco_customers.csv"),
         "--data-config", str(ROOT / "docs/examples/telco.toml")]
SYNTHETIC = ["--synthetic", "400"]  # the synthetic default (its seed), at a test's size


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure": rng.integers(1, 60, n), "plan": rng.choice(["a", "b"], n),
                         "fee": rng.uniform(5, 50, n)}, index=pd.Index([f"C{seed}-{i}" for i in range(n)], name="customer_id"))


# --------------------------------------------------------------------------- the contract

def test_a_contract_is_its_columns_not_its_rows():
    a, b = _frame(50, seed=0), _frame(80, seed=1)[["fee", "plan", "tenure"]]
    ca = contracts.of_frame(a, y=pd.Series(0.0, index=a.index))
    cb = contracts.of_frame(b, y=pd.Series(1.0, index=b.index))
    assert ca.contract_id == cb.contract_id  # a refresh of the same table continues the model line
    assert ca.population["ids_sha256"] != cb.population["ids_sha256"]  # ...and its population is recorded
    assert contracts.of_frame(a.assign(extra=1.0)).contract_id != ca.contract_id
    assert contracts.of_frame(a.assign(tenure=a["tenure"].astype(str))).contract_id != ca.contract_id  # a kind
    assert contracts.of_frame(a, sensitive=("age",)).contract_id != ca.contract_id  # a role
    back = contracts.DataContract.from_json(ca.to_json())
    assert back.contract_id == ca.contract_id and back.population == ca.population
    assert ca.missing_in(["plan"]) == ["tenure", "fee"]
    assert ca.describe().startswith("3 feature columns (tenure, plan, fee; 2 numeric, 1 categorical)")


# --------------------------------------------------------------------------- one workspace, two datasets

def _run(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    """A run with the product's own quality gate and minimum table size (not the test suite's relaxed
    ones); its evidence without the nested evaluation, as in every small pipeline test (conftest.py)."""
    env = {k: v for k, v in pipeline_env(ws).items()
           if not k.startswith("WORKBENCH_MODEL_") or k == "WORKBENCH_MODEL_NESTED_MAX_ROWS"}
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def _model_line(stdout: str) -> str:
    return next(line.strip() for line in stdout.splitlines() if line.strip().startswith("model:"))


def _rows(ws: Workspace, sql: str) -> list[tuple]:
    con = db.connect(ws.db_path, read_only=True)  # short-lived: a pipeline needs the file to itself
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def switching(tmp_path_factory):
    """Telco example -> synthetic -> Telco -> synthetic, all on one database (the stages a model
    line passes through: the feedback and action stages take no part in it)."""
    root = tmp_path_factory.mktemp("switch")
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir()
    results = [_run(ws, *source, "--stages", "ingest,train,predict", "--run-id", f"run-{i}")
               for i, source in enumerate([TELCO, SYNTHETIC, TELCO, SYNTHETIC])]
    return ws, results


SWITCHING = pytest.mark.timeout(1800)  # the fixture runs four pipelines (two of them train) once


@pytest.mark.slow
@SWITCHING
def test_switching_datasets_runs_green_both_ways(switching):
    _, results = switching
    for result in results:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "FAILED" not in result.stdout and "resume" not in result.stdout
        assert re.search(r"scored this run: [1-9]", result.stdout), result.stdout


@pytest.mark.slow
@SWITCHING
def test_each_dataset_keeps_its_own_model_line(switching):
    ws, results = switching
    lines = [_model_line(r.stdout) for r in results]
    assert "a new model line" in lines[0] and "a new model line" in lines[1]
    assert "a new model line" not in lines[2] and "a new model line" not in lines[3]
    registry = dict(_rows(ws, "SELECT run_id, contract_id FROM model_registry"))
    telco, synthetic = registry["run-0"], registry["run-1"]
    assert telco != synthetic and registry["run-2"] == telco and registry["run-3"] == synthetic
    # Every prediction was made by a model of the contract of the data it scored.
    made_by = _rows(ws, "SELECT p.run_id, any_value(r.contract_id), count(DISTINCT r.contract_id) FROM predictions p "
                        "JOIN (SELECT DISTINCT model_version, contract_id FROM model_registry) r USING (model_version) "
                        "GROUP BY 1")
    assert {run: cid for run, cid, _ in made_by} == registry and all(n == 1 for _, _, n in made_by)


@pytest.mark.slow
@SWITCHING
def test_lineage_is_the_run_that_produced_the_data(switching):
    ws, _ = switching
    for run_id, data_run, card, contract_id in _rows(
            ws, "SELECT run_id, data_run_id, card_path, contract_id FROM model_registry ORDER BY run_id"):
        assert data_run in (("run-0", "run-2") if run_id in ("run-0", "run-2") else ("run-1", "run-3"))
        text = open(card).read()
        assert f"| data imported by run | {data_run} |" in text and f"Data contract: `{contract_id[:12]}`" in text


@pytest.mark.slow
@SWITCHING
def test_predict_uses_the_model_line_of_the_data_and_never_another(switching, tmp_path):
    ws, _ = switching
    # The newest model is synthetic; Telco customers are scored by the Telco line, without training.
    assert _run(ws, *TELCO, "--stages", "ingest,predict", "--run-id", "telco-predict").returncode == 0
    used = _rows(ws, "SELECT DISTINCT r.contract_id FROM predictions p JOIN model_registry r USING (model_version) "
                     "WHERE p.run_id = 'telco-predict'")
    assert used == _rows(ws, "SELECT contract_id FROM model_registry WHERE run_id = 'run-0'")
    # A third table, with columns no model has: nobody is scored, and the summary says why.
    other = tmp_path / "other.csv"
    pd.DataFrame({"customer_id": [f"X{i}" for i in range(60)], "seats": range(60), "consent_given": "yes",
                  "churned": ["1", "0", ""] * 20}).to_csv(other, index=False)
    result = _run(ws, "--customers", str(other), "--stages", "ingest,predict", "--run-id", "other-predict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scored this run: 0" in result.stdout
    why = next(line.strip() for line in result.stdout.splitlines() if line.strip().startswith("why none:"))
    assert "no model is deployed for data contract" in why and "2 other data contract(s)" in why
    assert "run the train stage" in why


# --------------------------------------------------------------------------- a table too small to learn from

@pytest.mark.slow
def test_a_40_customer_run_finishes_and_says_why_nobody_was_scored(workspace):
    result = _run(workspace, "--synthetic", "40")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "SUCCEEDED" in result.stdout and "FAILED" not in result.stdout
    line = _model_line(result.stdout)
    assert line.startswith("model:    warning: not trained: too few labelled customers to train on")
    assert "WORKBENCH_MODEL_MIN_LABELLED" in line and "nobody is scored" in line
    not_scored = next(x for x in result.stdout.splitlines() if x.strip().startswith("not scored:"))
    assert "no model deployed for this data contract" in not_scored
    assert "feedback items handled offline" in result.stdout  # the feedback analysis is still done
