"""The leakage guard on a table with planted leaks, and what it must leave alone."""
from __future__ import annotations

import numpy as np
import pandas as pd

from churn_workbench import model as M


def _table(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n).astype(float)
    charges = np.round(rng.normal(70, 20, n), 2)  # nearly unique per row, yet a real feature
    y = (rng.random(n) < 1 / (1 + np.exp(-(1 - 0.05 * tenure)))).astype(int)
    X = pd.DataFrame({
        "tenure": tenure, "charges": charges, "total": np.round(charges * (tenure + 1), 2),
        "plan": rng.choice(["a", "b", "c"], n),
        "row_number": np.arange(1, n + 1),                                # id-like, monotonic
        "account_no": rng.permutation(n) + 50_000,                         # id-like, consecutive range
        "status": np.where(y == 1, "gone", "active"),                      # relabelled copy of the target
        "ordered": np.argsort(np.argsort(y + rng.random(n) * 0.5)) * 1.5,  # ranked by the label
        "Churn_Score": rng.random(n),                                      # label look-alike by name
        "ref": [f"R{v:08d}" for v in rng.permutation(n)],                   # text unique per row
    }, index=pd.Index([f"C{i}" for i in range(n)], name="customer_id"))
    return X, pd.Series(y, index=X.index)


def test_planted_leaks_are_excluded_one_line_each():
    X, y = _table()
    excluded, lines = M.leakage_screen(X, y.to_numpy(), label_name="churned")
    assert set(excluded) == {"row_number", "account_no", "status", "ordered", "Churn_Score", "ref"}
    assert len(lines) == len(excluded) and all("\n" not in line for line in lines)
    assert "id-like" in excluded["row_number"] and "id-like" in excluded["account_no"]
    assert "almost perfectly" in excluded["status"] and "almost perfectly" in excluded["ordered"]
    assert "look-alike" in excluded["Churn_Score"]


def test_override_keeps_a_column_with_a_line_saying_so():
    X, y = _table()
    excluded, lines = M.leakage_screen(X, y.to_numpy(), allow=["account_no"])
    assert "account_no" not in excluded
    assert any("'account_no' kept" in line and "allowed by the data config" in line for line in lines)


def test_train_drops_leaks_and_still_learns():
    X, y = _table()
    trained = M.train(X, y, seed=0, algorithms=("logistic_regression",))
    assert set(trained.feature_columns) == {"tenure", "charges", "total", "plan"}
    assert len(trained.train_summary["leakage_warnings"]) == 6
    assert 0.6 < trained.metrics["roc_auc"] < 0.95
