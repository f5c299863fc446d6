"""Measured effect: intervals that cover the truth, honest "not enough data", Qini curves."""
import numpy as np
import pandas as pd
import pytest

from churn_workbench import effect, synthetic
from churn_workbench.workspace import Workspace


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 - 48/80 = 0.2 [0.0524, 0.3339],
    # and 0/10 - 0/10 = 0 [-0.2775, 0.2775].
    diff, low, high = effect.effect_interval(48, 80, 56, 70)  # effect = control rate - treated rate
    assert diff == pytest.approx(0.2) and low == pytest.approx(0.0524, abs=5e-5) and high == pytest.approx(0.3339, abs=5e-5)
    assert effect.effect_interval(0, 10, 0, 10)[1:] == pytest.approx((-0.2775, 0.2775), abs=5e-5)


def test_interval_methods_are_checked():
    with pytest.raises(ValueError, match="newcombe"):
        effect.effect_interval(1, 10, 2, 10, method="wald")
    assert all(np.isnan(effect.effect_interval(1, 0, 2, 10)))


def _experiment(n=2000, seed=1, share=0.5, action="discount"):
    data = synthetic.generate(n, seed)
    ids = data.customers["customer_id"]
    rng = np.random.default_rng(seed)
    return data, pd.DataFrame({"customer_id": ids, "treated": rng.random(len(ids)) >= share, "action_type": action})


@pytest.mark.slow   # 300 redraws of an experiment: a coverage rate, not a unit on tiny data
@pytest.mark.parametrize("method", ["newcombe", "bootstrap"])
def test_interval_covers_the_generators_true_effect_at_about_the_nominal_rate(method):
    """Redraw the outcomes of one experiment 300 times: the 95% interval must cover the true mean
    effect (the generator's p0 - p1, averaged over the experiment's customers) about 95% of the time."""
    data, exp = _experiment()
    covered, widths = [], []
    for rep in range(300):
        sim = synthetic.simulate_outcomes(data, exp, seed=rep)
        f = sim.frame
        t, c = f[f["treated"]], f[~f["treated"]]
        _, low, high = effect.effect_interval(int(t["churned"].sum()), len(t), int(c["churned"].sum()), len(c),
                                              method, seed=rep, draws=2000)
        covered.append(low <= sim.true_effect() <= high)
        widths.append(high - low)
    coverage = float(np.mean(covered))
    print(f"{method}: coverage {coverage:.3f}, mean width {np.mean(widths):.4f} (n={len(exp)})")
    assert 0.92 <= coverage <= 0.98


def test_effect_table_says_not_enough_data_below_the_minimum_control_size():
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(240)], "segment": ["High"] * 120 + ["Low"] * 120,
                          "action_type": "discount", "treated": [i % 10 != 0 for i in range(240)],
                          "churned": pd.array([i % 3 == 0 for i in range(240)], dtype="Int64")})
    overall = effect.effect_table(frame, None, min_control=20)
    assert overall.loc[0, "control"] == 24 and not np.isnan(overall.loc[0, "effect"])
    per_segment = effect.effect_table(frame, "segment", min_control=20)
    assert per_segment["verdict"].str.startswith(effect.NOT_ENOUGH).all()
    assert per_segment["effect"].isna().all() and (per_segment["control"] == 12).all()
    # Customers without an outcome are not counted at all.
    frame.loc[:99, "churned"] = pd.NA
    assert effect.effect_table(frame, None, min_control=1).loc[0, ["treated", "control"]].sum() == 140


def test_qini_curve_of_the_true_ranking_beats_random_and_risk():
    data, exp = _experiment(seed=2)
    sim = synthetic.simulate_outcomes(data, exp, seed=3)
    f = sim.frame
    oracle = effect.qini_coefficient(effect.gain_curve(f["effect"], f["effect"]))
    risk = effect.qini_coefficient(effect.gain_curve(f["p_untreated"], f["effect"]))
    anti = effect.qini_coefficient(effect.gain_curve(-f["effect"], f["effect"]))
    assert oracle > risk > 0 > anti
    observed = effect.qini_curve(f["effect"], f["treated"], f["churned"])
    assert observed["fraction"].iloc[0] == 0 and observed["fraction"].iloc[-1] == 1
    assert effect.qini_coefficient(observed) > 0


def test_dashboard_effect_view_agrees_with_the_library(workspace, tmp_path):
    from churn_workbench import db
    from churn_workbench.dashboard import data as snapshot_data
    from churn_workbench.dashboard import publish
    data, exp = _experiment(n=600, seed=4)
    sim = synthetic.simulate_outcomes(data, exp, seed=5).frame
    sim["segment"] = np.where(data.true_probability.reindex(sim["customer_id"]).to_numpy() > 0.4, "High", "Low")
    with db.session(workspace.db_path) as con:
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r1', now(), 'succeeded')")
        con.register("s", sim)
        con.execute("""INSERT INTO actions (run_id, customer_id, segment, action_type, status, created_at)
                       SELECT 'r1', customer_id, segment, action_type, CASE WHEN treated THEN 'ok' ELSE 'control' END,
                              now() FROM s""")
        con.execute("""INSERT INTO predictions (run_id, customer_id, churn_probability, segment)
                       SELECT 'r1', customer_id, p_untreated, segment FROM s""")
        con.execute("""INSERT INTO outcomes (run_id, customer_id, churned, observed_at)
                       SELECT 'r1', customer_id, churned, now() FROM s WHERE customer_id <> 'C0000001'""")
        rep = effect.report(con, "r1", min_control=30)
    gen = publish.publish(Workspace.open(workspace.db_path), tmp_path / "snap")
    view = snapshot_data.load(gen.parent)
    try:
        assert view.effect_runs() == ["r1"]
        pd.testing.assert_frame_equal(view.effect_summary("r1", "overall", 30), rep.overall)
        pd.testing.assert_frame_equal(view.effect_summary("r1", "segment", 30), rep.by_segment)
        curve = view.effect_qini("r1")
        assert curve["incremental"].iloc[-1] == pytest.approx(rep.qini["incremental"].iloc[-1])
        assert rep.with_outcome == len(sim) - 1
    finally:
        view.close()
