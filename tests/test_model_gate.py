"""The quality gate weighs evidence: out-of-fold figures over every labelled row with intervals,
refusal only when the evidence says the model is no better than chance, the floor or the deployed
model of the same data contract; too small a table trains nothing and says so."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churn_workbench import db
from churn_workbench import model as M
from churn_workbench.model import evidence
from churn_workbench.model.leakage import single_column_auc
from churn_workbench.stages import ingest, predict, train
from churn_workbench.stages.params import IngestParams, PredictParams, TrainParams


# --------------------------------------------------------------------------- the decision rule

def test_refuses_what_cannot_be_told_from_chance():
    ok, reason = M.quality_gate(0.56, [0.49, 0.63], floor=0.6, rows=266)
    assert not ok and "better than chance" in reason and "0.490–0.630" in reason and "266 labelled" in reason
    assert "\n" not in reason


def test_a_floor_at_or_below_chance_asks_for_nothing():
    assert M.quality_gate(0.52, [0.40, 0.64], floor=0.0)[0]
    assert M.quality_gate(0.52, [0.40, 0.64], floor=0.5)[0]


def test_refuses_only_what_lies_wholly_below_the_floor():
    assert M.quality_gate(0.58, [0.52, 0.64], floor=0.6)[0]  # the floor is inside the interval: no evidence against it
    ok, reason = M.quality_gate(0.56, [0.54, 0.58], floor=0.6)
    assert not ok and "below the floor" in reason


def test_refuses_only_a_model_that_evidently_trails_the_deployed_one():
    worse = {"difference": -0.03, "ci": [-0.05, -0.012], "basis": "on the same 900 labelled customers it never saw"}
    ok, reason = M.quality_gate(0.80, [0.78, 0.82], floor=0.6, comparison=worse, tolerance=0.005)
    assert not ok and "worse than the deployed model" in reason and "900 labelled customers" in reason
    unclear = {"difference": -0.03, "ci": [-0.08, 0.02], "basis": "against its recorded ROC-AUC 0.830"}
    ok, reason = M.quality_gate(0.80, [0.75, 0.85], floor=0.6, comparison=unclear, tolerance=0.005)
    assert ok and "not worse" in reason
    within_tolerance = {"difference": -0.004, "ci": [-0.006, -0.002], "basis": "on the same rows"}
    assert M.quality_gate(0.80, [0.79, 0.81], floor=0.6, comparison=within_tolerance, tolerance=0.005)[0]
    assert not M.quality_gate(float("nan"), [0.5, 0.6], floor=0.6)[0]


# --------------------------------------------------------------------------- the evidence

def test_choosing_among_noise_is_not_taken_for_signal():
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.3).astype(int)
    scores = {f"c{i}": rng.normal(size=400) for i in range(8)}
    best = max(scores, key=lambda c: roc_auc_score(y, scores[c]))
    result = evidence.selected_auc(y, scores, best)
    assert result["raw_roc_auc"] > 0.53  # the luckiest of eight looks like signal...
    assert result["optimism"] > 0.02 and result["ci"][0] < 0.5  # ...until the choice is accounted for
    alone = evidence.selected_auc(y, {best: scores[best]}, best)
    assert alone["optimism"] == 0.0 and alone["roc_auc"] == pytest.approx(result["raw_roc_auc"])


def test_paired_difference_cancels_what_both_share():
    rng = np.random.default_rng(4)
    y = (rng.random(2000) < 0.3).astype(int)
    shared = y + rng.normal(0, 1.2, 2000)
    same = evidence.paired_difference(y, shared, shared)
    assert same["difference"] == 0 and same["ci"] == [0, 0]
    better = evidence.paired_difference(y, shared + 0.6 * y, shared)
    assert better["ci"][0] > 0


# --------------------------------------------------------------------------- on 400-customer tables

def modest_table(path, signal: bool, n: int = 400, labelled: int = 266, seed: int = 0):
    """400 customers, 266 labelled; with `signal`, churn depends modestly on `engagement` (alone
    about ROC-AUC 0.62 over the labelled rows), the other columns are noise; without, on nothing.
    Returns the single-column ROC-AUC of `engagement` over the labelled rows."""
    rng = np.random.default_rng(seed)
    engagement = rng.normal(size=n)
    churn = rng.random(n) < 1 / (1 + np.exp(-(-0.85 + (0.45 * engagement if signal else 0.0))))
    label = np.where(churn, "1", "0").astype(object)
    label[rng.permutation(n)[labelled:]] = ""
    frame = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(n)], "engagement": engagement.round(3),
                          "tenure_months": rng.integers(1, 60, n), "monthly_fee": rng.uniform(10, 90, n).round(2),
                          "plan": rng.choice(["basic", "plus", "pro"], n),
                          "region": rng.choice(["north", "south", "east", "west"], n),
                          "consent_given": "yes", "churned": label})
    frame.to_csv(path, index=False)
    known = frame["churned"] != ""
    return single_column_auc(frame.loc[known, "engagement"], frame.loc[known, "churned"].astype(int).to_numpy())


def _active(path) -> int:
    """Customers not labelled as churned: the ones a deployed model scores."""
    return int((pd.read_csv(path, dtype=str, keep_default_na=False)["churned"] != "1").sum())


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a_modest_real_signal_on_400_customers_is_promoted(workspace, tmp_path, seed):
    alone = modest_table(tmp_path / "c.csv", signal=True, seed=seed)
    assert 0.59 <= alone <= 0.66  # the premise: modest, real
    ingest.run(IngestParams(run_id="", customers_path=str(tmp_path / "c.csv")))
    summary = train.run(TrainParams(run_id=""))
    assert summary["outcome"] == "promoted", summary["decision"]
    assert "266 labelled customers" in summary["decision"] and "95% interval" in summary["decision"]
    assert predict.run(PredictParams(run_id=""))["scored"] == _active(tmp_path / "c.csv")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a_model_without_signal_is_refused_and_nobody_is_scored(workspace, tmp_path, seed):
    modest_table(tmp_path / "c.csv", signal=False, seed=seed)
    ingest.run(IngestParams(run_id="", customers_path=str(tmp_path / "c.csv")))
    summary = train.run(TrainParams(run_id=""))
    assert summary["outcome"] == "none" and not summary["deployed"], summary["decision"]
    assert "not promoted" in summary["decision"] and "nobody is scored" in summary["decision"]
    with db.session(workspace.db_path) as con:
        assert con.execute("SELECT count(*) FROM model_registry").fetchone()[0] == 0
    result = predict.run(PredictParams(run_id=""))
    assert result["scored"] == 0 and "none deployed for data contract" in result["no_model"]
    assert "better than chance" in result["no_model"]


def test_too_few_labelled_customers_train_nothing_and_say_so(workspace, tmp_path):
    modest_table(tmp_path / "c.csv", signal=True, n=40, labelled=33)
    ingest.run(IngestParams(run_id="", customers_path=str(tmp_path / "c.csv")))
    summary = train.run(TrainParams(run_id=""))
    assert summary["outcome"] == "skipped" and summary["skipped"] and not summary["deployed"]
    assert "too few labelled customers to train on: 33" in summary["decision"]
    assert "WORKBENCH_MODEL_MIN_LABELLED" in summary["decision"] and "\n" not in summary["decision"]
    with db.session(workspace.db_path) as con:
        (details,) = con.execute("SELECT details FROM audit_log WHERE event_type = 'model_decision'").fetchone()
    assert json.loads(details)["outcome"] == "skipped"
    result = predict.run(PredictParams(run_id=""))
    assert result["scored"] == 0 and "too few labelled customers" in result["no_model"]
