"""Uplift targeting on the synthetic ground truth, and the whole loop run as the README shows it."""
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from churn_workbench import db, effect, synthetic, uplift
from conftest import ROOT, pipeline_env

FEATURES = ["age", "region", "plan", "contract", "payment_method", "autopay", "tenure_months", "monthly_charges",
            "complaints_90d", "days_since_last_activity", "data_usage_gb", "num_products"]


def _ratio(score, truth) -> float:
    """Qini coefficient of a ranking on the true effects, as a share of the oracle's."""
    return effect.qini_coefficient(effect.gain_curve(score, truth)) / effect.qini_coefficient(effect.gain_curve(truth, truth))


def test_select_never_contacts_a_customer_with_a_negative_expected_effect():
    score = pd.Series([0.3, -0.1, 0.0, 0.2, 0.25], index=list("abcde"))
    assert list(uplift.select(score, 3)) == ["a", "e", "d"]
    assert list(uplift.select(score, 10)) == ["a", "e", "d"]
    value = pd.Series({"a": 1.0, "b": 100.0, "c": 5.0, "d": 10.0, "e": 1.0})
    assert list(uplift.select(uplift.targeting_score(score, value), 1)) == ["d"]


def test_fit_needs_both_outcomes_in_both_arms():
    X = pd.DataFrame({"x": np.arange(10.0)}, index=[f"C{i}" for i in range(10)])
    with pytest.raises(ValueError, match="control group needs"):
        uplift.fit(X, [True] * 8 + [False] * 2, [0, 1] * 4 + [0, 0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_uplift_beats_risk_targeting_on_the_synthetic_ground_truth(seed):
    """An experiment on 60% of 2,000 synthetic customers, half held out; the two-model estimate
    ranks all 2,000 customers. Ground truth: the generator's effect of the action."""
    data = synthetic.generate(2000, seed)
    c = data.customers
    rng = np.random.default_rng(seed)
    exp = c.sample(frac=0.6, random_state=seed)
    sim = synthetic.simulate_outcomes(data, pd.DataFrame({"customer_id": exp["customer_id"], "treated": rng.random(len(exp)) >= 0.5,
                                                          "action_type": "discount"}), seed)
    X = c.set_index("customer_id")[FEATURES]
    model = uplift.fit(X.loc[sim.frame["customer_id"]], sim.frame["treated"], sim.frame["churned"])
    truth = synthetic.true_effect_of(data, X.index).to_numpy()
    model_ratio = _ratio(model.effect(X).to_numpy(), truth)
    risk_ratio = _ratio(data.true_probability.to_numpy(), truth)  # even the *true* risk
    print(f"seed {seed}: uplift {model_ratio:.3f} of the oracle's Qini, risk {risk_ratio:.3f}")
    assert model_ratio > risk_ratio + 0.05
    assert model_ratio >= 0.75
