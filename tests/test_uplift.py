"""Uplift targeting on the synthetic ground truth, and the whole loop run as the README shows it."""
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


@pytest.mark.parametrize("seed", range(1, 9))
def test_uplift_beats_risk_targeting_on_the_synthetic_ground_truth(seed):
    """An experiment on 60% of 2,000 synthetic customers, half held out; the uplift estimate
    ranks all 2,000 customers. Ground truth: the generator's effect of the action."""
    data = synthetic.generate(2000, seed)
    c = data.customers
    rng = np.random.default_rng(seed)
    exp = c.sample(frac=0.6, random_state=seed)
    treated = rng.random(len(exp)) >= 0.5
    # The outcomes need a random stream of their own: simulate_outcomes draws from
    # default_rng(its seed), so with the assignment's seed the same number u would pick the arm
    # (u >= 0.5) and the churn (u < p): control customers would churn at twice their probability,
    # treated ones hardly ever, and the "experiment" would show an effect on everyone.
    sim = synthetic.simulate_outcomes(data, pd.DataFrame({"customer_id": exp["customer_id"], "treated": treated,
                                                          "action_type": "discount"}), 10_000 + seed)
    X = c.set_index("customer_id")[FEATURES]
    model = uplift.fit(X.loc[sim.frame["customer_id"]], sim.frame["treated"], sim.frame["churned"])
    truth = synthetic.true_effect_of(data, X.index).to_numpy()
    model_ratio = _ratio(model.effect(X).to_numpy(), truth)
    two_model_ratio = _ratio(model.two_model_effect(X).to_numpy(), truth)
    risk_ratio = _ratio(data.true_probability.to_numpy(), truth)  # even the *true* risk
    print(f"seed {seed}: uplift {model_ratio:.3f} of the oracle's Qini (arm models alone {two_model_ratio:.3f}), "
          f"risk {risk_ratio:.3f}")
    assert model_ratio > risk_ratio + 0.05
    assert model_ratio >= 0.80  # target; measured 0.84-0.90 on these seeds (bench/uplift_bench.py: 1-40)


# --------------------------------------------------------------------------------------------
# the loop, as the README shows it (slow: two pipeline runs)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loop(built_loop):
    """The README's loop, built once for the session (tests/workspaces.py, mode "loop")."""
    ws = built_loop.restore()
    outputs = [built_loop.output(name) for name in ("trial-1", "outcomes", "trial-2")]
    con = db.connect(ws.db_path, read_only=True)
    yield ws, con, outputs
    con.close()


def _truth(con, run_id):
    """The generator's view of a run's experiment: re-run it from the run's parameters."""
    import json
    params = json.loads(con.execute("SELECT params FROM runs WHERE run_id = ?", [run_id]).fetchone()[0])
    data = synthetic.generate(int(params["synthetic_n"]), int(params["seed"]))
    actions = con.execute("SELECT customer_id, status <> 'control' AS treated, action_type FROM actions "
                          "WHERE run_id = ? ORDER BY customer_id", [run_id]).df()
    return data, synthetic.simulate_outcomes(data, actions, seed=0)  # the effects do not depend on the draw


@pytest.mark.slow
def test_the_readme_loop_measures_the_true_effect_and_targets_by_uplift(loop):
    ws, con, outputs = loop
    assert "effect +" in outputs[1] and "generator's true effect" in outputs[1]
    data, truth = _truth(con, "trial-1")
    report = effect.report(con, "trial-1")
    overall = report.overall.iloc[0]
    true_effect = truth.true_effect()
    print(f"overall: true {true_effect:+.4f}, measured {overall.effect:+.4f} [{overall.ci_low:+.4f}, "
          f"{overall.ci_high:+.4f}] width {overall.ci_high - overall.ci_low:.4f}")
    assert overall.ci_low <= true_effect <= overall.ci_high
    covered = []
    for table, column in ((report.by_action, "action_type"), (report.by_segment, "segment")):
        exp = effect.experiment(con, "trial-1").merge(truth.frame[["customer_id", "effect"]], on="customer_id")
        for row in table[table["effect"].notna()].itertuples(index=False):
            t = exp.loc[exp[column].astype(str) == row.group, "effect"].mean()
            covered.append(row.ci_low <= t <= row.ci_high)
            print(f"{column}={row.group}: true {t:+.4f}, [{row.ci_low:+.4f}, {row.ci_high:+.4f}]")
    assert np.mean(covered) >= 0.75  # 95% intervals: nearly all groups, allowing for chance

    # Uplift vs risk on the ground truth, ranking the experiment's customers.
    from churn_workbench.stages.modeldata import load_feature_frame
    X, _, info = load_feature_frame(con, "trial-1")
    exp_data = uplift.experiment_data(con, "trial-1").set_index("customer_id")
    Xm = uplift.model_frame(X.loc[exp_data.index], info["roles"], exp_data["action_type"])
    model = uplift.fit(Xm, exp_data["treated"], exp_data["churned"])
    f = truth.frame.set_index("customer_id")
    risk = con.execute("SELECT customer_id, churn_probability FROM predictions WHERE run_id = 'trial-1'").df() \
        .set_index("customer_id")["churn_probability"].reindex(f.index)
    uplift_ratio = _ratio(model.effect(Xm.loc[f.index]).to_numpy(), f["effect"].to_numpy())
    two_model_ratio = _ratio(model.two_model_effect(Xm.loc[f.index]).to_numpy(), f["effect"].to_numpy())
    risk_ratio = _ratio(risk.to_numpy(), f["effect"].to_numpy())
    print(f"Qini as a share of the oracle's: uplift {uplift_ratio:.3f} (arm models alone {two_model_ratio:.3f}), "
          f"risk {risk_ratio:.3f}")
    assert uplift_ratio > risk_ratio
    assert uplift_ratio >= 0.80  # target; measured 0.87 here, 0.85-0.88 with --seed 1-6

    # The next run used uplift targeting, and kept more customers than risk targeting would have.
    event = con.execute("SELECT details FROM audit_log WHERE run_id = 'trial-2' AND event_type = 'targeting'").fetchone()[0]
    assert '"method":"uplift"' in event and '"outcomes_run":"trial-1"' in event
    preds = con.execute("SELECT customer_id, churn_probability, segment FROM predictions WHERE run_id = 'trial-2'").df()
    chosen = set(con.execute("SELECT customer_id FROM actions WHERE run_id = 'trial-2'").df()["customer_id"])
    budget = len(chosen)
    marketing = set(con.execute("SELECT customer_id FROM actions WHERE run_id IN ('trial-1', 'trial-2')").df()["customer_id"])
    risk_pick = preds[preds["customer_id"].isin(marketing)].sort_values("churn_probability", ascending=False).head(budget)
    all_truth = synthetic.true_effect_of(data, preds["customer_id"], "discount")
    kept_uplift, kept_risk = all_truth.reindex(list(chosen)).sum(), all_truth.reindex(risk_pick["customer_id"]).sum()
    print(f"trial-2: {budget} customers; expected customers kept if all contacted: uplift {kept_uplift:.1f}, "
          f"risk {kept_risk:.1f}")
    assert kept_uplift > kept_risk
    # The control group is stable across runs: with the same seed, trial-2's smaller control group
    # (10%) lies inside trial-1's (50%), and each run's audited digest recomputes from the ids.
    import json
    from churn_workbench import control
    from churn_workbench.pseudonyms import SubjectRefs
    held = {run: set(con.execute("SELECT customer_id FROM actions WHERE run_id = ? AND status = 'control'",
                                 [run]).df()["customer_id"]) for run in ("trial-1", "trial-2")}
    assert held["trial-2"] and held["trial-2"] <= held["trial-1"]
    refs = SubjectRefs(ws.data_dir / ".subject_key")
    for run in ("trial-1", "trial-2"):
        event = json.loads(con.execute("SELECT details FROM audit_log WHERE run_id = ? AND event_type = "
                                       "'control_group_assigned'", [run]).fetchone()[0])
        ids = con.execute("SELECT customer_id FROM actions WHERE run_id = ?", [run]).df()["customer_id"]
        assert control.verify_assignment(ids, refs, event["share"], event["seed"], event["assignment_sha256"])
    verify = subprocess.run([str(ROOT / ".venv/bin/python"), "run_pipeline.py", "verify"], cwd=ROOT,
                            env=pipeline_env(ws), capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
