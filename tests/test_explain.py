"""Drivers against a table whose generating process is known.

logit(churn) = -1 + 1.4 * x1 - 1.0 * x3 + 1.2 * [plan == "basic"] + 0 * x2
where x2 is x1 plus a little noise (correlation ~0.9, no effect of its own) and "basic" is the most
common plan (the high-risk profile is the typical customer, as month-to-month is on telecom data).
The true contribution of each column relative to the population is its term minus the term's mean.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from churn_workbench import explain
from churn_workbench import model as M


@pytest.fixture(scope="module")
def known():
    rng = np.random.default_rng(3)
    n = 6000
    x1 = rng.normal(0, 1, n)
    x2 = 0.9 * x1 + np.sqrt(1 - 0.81) * rng.normal(0, 1, n)
    x3 = rng.normal(0, 1, n)
    plan = rng.choice(["basic", "plus", "max"], n, p=[0.6, 0.25, 0.15])
    terms = pd.DataFrame({"x1": 1.4 * x1, "x2": 0.0 * x2, "x3": -1.0 * x3, "plan": 1.2 * (plan == "basic")})
    logit = -1 + terms.sum(axis=1).to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    index = pd.Index([f"K{i}" for i in range(n)], name="customer_id")
    X = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "plan": plan}, index=index)
    true = (terms - terms.mean()).set_axis(index)
    return X, pd.Series(y, index=index), true


@pytest.mark.slow   # three models on 6,000 rows: explanation quality, not a unit on tiny data
@pytest.mark.parametrize("algorithms", [("lightgbm",), ("logistic_regression",), ("logistic_regression", "lightgbm", "blend")])
def test_drivers_match_the_generating_process(known, algorithms):
    X, y, true = known
    trained = M.train(X, y, seed=0, algorithms=algorithms)
    contrib = explain.contributions(trained, X)
    # Right sign and order for the columns that matter.
    assert spearmanr(contrib["x1"], true["x1"]).statistic > 0.8
    assert spearmanr(contrib["x3"], true["x3"]).statistic > 0.9
    basic = (X["plan"] == "basic").to_numpy()
    # The typical (most common) plan is still a driver: measured against the population, not the mode.
    assert contrib.loc[basic, "plan"].mean() > 0.2 and contrib.loc[~basic, "plan"].mean() < -0.2
    # A correlated column without an effect gets little credit (no sign artefacts worth the name).
    assert contrib["x2"].abs().mean() < 0.35 * contrib["x1"].abs().mean()
    # The top driver is the truly largest positive term wherever that one is clear.
    true_top = true.idxmax(axis=1)
    margin = np.sort(true.to_numpy(), axis=1)
    clear = (margin[:, -1] - margin[:, -2] > 0.5) & (margin[:, -1] > 0.3)
    drivers = explain.top_drivers(trained, X[clear], k=3)
    got = np.array([d[0] if d else None for d in drivers], dtype=object)
    assert np.mean(got == true_top[clear].to_numpy()) > 0.85


def test_sensitive_columns_are_never_drivers(known):
    X, y, _ = known
    trained = M.train(X, y, seed=0, algorithms=("lightgbm",), sensitive_columns=["plan"])
    drivers = explain.top_drivers(trained, X.iloc[:2000], k=3)
    assert all("plan" not in d for d in drivers)
    assert sum("x1" in d for d in drivers) > 500


def test_stump_lookup_equals_lightgbm_treeshap():
    """Two-leaf ensembles are explained by per-column lookups; they must equal LightGBM's TreeSHAP
    exactly, with blanks, unseen categories and values beyond every threshold."""
    from churn_workbench.model import estimators
    from churn_workbench.model.prep import prepare, to_matrix
    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame({"a": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n)),
                      "b": rng.choice(["p", "q", "r", None], n), "c": rng.integers(0, 5, n).astype(float)},
                     index=pd.Index([f"S{i}" for i in range(n)], name="customer_id"))
    logit = 1.2 * np.nan_to_num(X["a"].to_numpy()) + (X["b"] == "q") - 0.3 * X["c"]
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), index=X.index)
    trained = M.train(X, y, seed=0, algorithms=("lightgbm",))
    test = pd.concat([X.iloc[:500], pd.DataFrame({"a": [np.nan, 1e9, -1e9], "b": ["zzz", None, "p"], "c": [99.0, -5.0, 2.0]},
                                                 index=["U1", "U2", "U3"])])
    Mx = to_matrix(prepare(test, trained.numeric_columns, trained.categorical_columns), trained.numeric_columns,
                   trained.categorical_columns, trained.categories)
    exact = estimators.lgb_contrib(trained.booster, Mx)[:, :-1]
    assert np.allclose(explain.contributions(trained, test).to_numpy(), exact, atol=1e-9)
    if trained.train_summary["lightgbm_config"]["num_leaves"] == 2:
        from churn_workbench.model import stumps
        assert stumps.uses_lookup(trained)  # the lookup was used, not the fallback
    assert np.allclose(M.raw_score(trained, test), estimators.lgb_raw(trained.booster, Mx), atol=1e-9)
