import hashlib
import json
import os
import time

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

import messy_files as mf
from churn_workbench import explain, features, inputs
from churn_workbench import model as M
from churn_workbench import model_card
from churn_workbench.synthetic import generate

TOPIC_WORDS = {"price": ("expensive", "cheaper", "price", "fees"), "billing": ("charged", "billing", "refund", "invoice"),
               "support": ("support", "spoke to", "solved"), "cancel": ("cancel", "leaving", "stop the direct debit")}


def _analyse(feedback: pd.DataFrame) -> pd.DataFrame:
    """A stand-in for the feedback analyzer: VADER sentiment and keyword topics."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    vader = SentimentIntensityAnalyzer()
    texts = feedback["text"].str.lower()
    topics = [json.dumps([t for t, words in TOPIC_WORDS.items() if any(w in text for w in words)]) for text in texts]
    return pd.DataFrame({"feedback_id": feedback["feedback_id"], "customer_id": feedback["customer_id"],
                         "sentiment": [vader.polarity_scores(t)["compound"] for t in feedback["text"]], "topics": topics})


def _frame(data):
    table = inputs.type_customers(data.customers, inputs.DataConfig(), "synthetic")
    fb = features.feedback_features(_analyse(data.feedback), data.feedback, topics=list(TOPIC_WORDS))
    X = features.feature_frame(table.frame, table.roles, fb)
    return X, table.frame.set_index("customer_id")["churned"]


@pytest.fixture(scope="module")
def synthetic():
    data = generate(20_000, seed=11)
    X, y = _frame(data)
    started = time.perf_counter()
    trained = M.train(X, y, seed=0)
    return data, X, y, trained, time.perf_counter() - started


@pytest.fixture(scope="module")
def small_hgb():
    data = generate(4_000, seed=5)
    X, y = _frame(data)
    return X, M.train(X, y, seed=1, algorithms=("hist_gradient_boosting",))


def test_auc_close_to_the_ceiling(synthetic):
    data, X, y, trained, seconds = synthetic
    holdout = trained.holdout
    ceiling = roc_auc_score(holdout["label"], data.true_probability.reindex(holdout.index))
    print(f"held-out AUC {trained.metrics['roc_auc']:.4f}, ceiling {ceiling:.4f}, {trained.algorithm}, {seconds:.1f}s")
    assert trained.metrics["roc_auc"] >= ceiling - 0.03
    assert seconds < 60
    assert set(trained.candidates) == set(M.ALGORITHMS)
    assert sum(c["chosen"] for c in trained.candidates.values()) == 1
    assert trained.candidates[trained.algorithm]["chosen"]


def test_metrics_and_curves_are_consistent(synthetic):
    _, _, y, trained, _ = synthetic
    m, h = trained.metrics, trained.holdout
    assert m["roc_auc"] == pytest.approx(roc_auc_score(h["label"], h["probability"]))
    assert m["pr_auc"] == pytest.approx(average_precision_score(h["label"], h["probability"]))
    assert m["brier"] == pytest.approx(brier_score_loss(h["label"], h["probability"]))
    for name in ("roc_auc", "pr_auc", "brier"):
        low, high = m[f"{name}_ci95"]
        assert low < m[name] < high and high - low < 0.1
    lift = trained.curves["lift"]
    assert len(lift) == 10 and lift[0]["lift"] > 1.5 and lift[-1]["cumulative_capture"] == pytest.approx(1.0)
    bins = trained.curves["calibration"]
    assert sum(b["rows"] for b in bins) == m["holdout_rows"]
    # Calibrated: predicted and observed rates agree within a few points in every bin.
    assert max(abs(b["mean_predicted"] - b["observed_rate"]) for b in bins) < 0.08
    s = trained.train_summary
    assert s["rows_labelled"] == int(y.notna().sum()) and s["rows_train"] + s["rows_holdout"] == s["rows_labelled"]
    assert s["calibration"] == "isotonic"


def test_weighted_metrics_match_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    p = np.round(rng.random(3000) * 0.5 + y * 0.2, 2)  # many ties
    w = rng.integers(0, 3, 3000).astype(float)
    got = M._weighted_metrics(y, p, w[None, :])
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(y, p, sample_weight=w))
    assert got["pr_auc"][0] == pytest.approx(average_precision_score(y, p, sample_weight=w))
    assert got["brier"][0] == pytest.approx(brier_score_loss(y, p, sample_weight=w))


def test_subsampling_keeps_the_label_rate():
    data = generate(3_000, seed=2)
    X, y = _frame(data)
    trained = M.train(X, y, seed=0, max_train_rows=1_000)
    s = trained.train_summary
    assert s["train_subsampled"] and s["rows_train"] == 1_000
    assert abs(s["label_rate_train"] - s["label_rate"]) < 0.01
    assert s["calibration"] == "sigmoid"


def test_too_little_labelled_data_is_a_clear_error():
    X = pd.DataFrame({"x": np.arange(30.0)}, index=[f"C{i}" for i in range(30)])
    y = pd.Series([0, 1] * 5 + [None] * 20, index=X.index, dtype="Int8")
    with pytest.raises(M.TrainingError) as excinfo:
        M.train(X, y)
    assert "10 labelled" in str(excinfo.value) and "\n" not in str(excinfo.value)
    with pytest.raises(inputs.InputError, match="0 churned"):
        M.train(X, pd.Series([0] * 30, index=X.index))


def test_scoring_messy_frames(synthetic):
    _, X, _, trained, _ = synthetic
    base = M.predict_proba(trained, X.iloc[:2000])
    assert base.shape == (2000,) and np.all((base >= 0) & (base <= 1))
    shuffled = X.iloc[:2000][list(reversed(X.columns))].assign(unrelated="x")
    assert np.allclose(M.predict_proba(trained, shuffled), base)
    messy = mf.scoring_frame_with_surprises(X.iloc[:2000])
    with pytest.warns(UserWarning, match="missing"):
        p = M.predict_proba(trained, messy)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    with pytest.raises(ValueError, match="none of the model"):
        M.predict_proba(trained, pd.DataFrame({"other": [1, 2]}))


def test_train_and_score_from_messy_files(tmp_path):
    """The whole path on a generated messy file: text numbers, blanks, yes/no labels, a date."""
    rng = np.random.default_rng(4)
    n = 600
    tenure = rng.integers(0, 72, n)
    risk = 1 / (1 + np.exp(-(1.5 - 0.06 * tenure)))
    churned = np.where(rng.random(n) < risk, "Yes", "no")
    churned[rng.random(n) < 0.1] = ""
    frame = pd.DataFrame({
        "customer_id": [f"M{i}" for i in range(n)], "email": [f"m{i}@example.com" for i in range(n)],
        "churned": churned, "tenure": [f" {t:,} " if t % 7 else "" for t in tenure],
        "spend": [f"{v:,.2f}" for v in rng.normal(1500, 400, n)],
        "plan": rng.choice(["basic", "plus", ""], n), "since": pd.Timestamp("2025-01-01") + pd.to_timedelta(tenure, "D"),
    })
    frame.to_csv(tmp_path / "m.csv", index=False)
    table = inputs.read_customers(tmp_path / "m.csv")
    X = features.feature_frame(table.frame, table.roles, None)
    assert "email" not in X.columns
    trained = M.train(X, table.frame.set_index("customer_id")["churned"])
    assert trained.metrics["roc_auc"] > 0.65
    assert "fb_count" in trained.train_summary["dropped_columns"]
    assert len(M.predict_proba(trained, X)) == n


def test_save_load_roundtrip_and_tampering(synthetic, tmp_path, monkeypatch):
    _, X, _, trained, _ = synthetic
    path, digest = M.save_model(trained, tmp_path)
    assert path.exists() and path.name == f"churn_model_{digest[:12]}.skops"
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    seen = {}
    real_loads = sio.loads

    def spy(data, trusted=None):
        seen["trusted"] = trusted
        return real_loads(data, trusted=trusted)
    monkeypatch.setattr(sio, "loads", spy)
    loaded = M.load_model(path, digest)
    assert seen["trusted"] is not True and list(seen["trusted"]) == list(M.TRUSTED_TYPES)
    assert loaded.feature_columns == trained.feature_columns and loaded.metrics["roc_auc"] == trained.metrics["roc_auc"]
    assert loaded.holdout is None
    assert np.allclose(M.predict_proba(loaded, X.iloc[:500]), M.predict_proba(trained, X.iloc[:500]))

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.skops"
    tampered.write_bytes(bytes(data))
    with pytest.raises(M.ModelIntegrityError) as excinfo:
        M.load_model(tampered, digest)
    message = str(excinfo.value)
    assert "tampered.skops" in message and digest in message and "does not match" in message
    with pytest.raises(M.ModelIntegrityError, match="not found"):
        M.load_model(tmp_path / "gone.skops", digest)


def test_untrusted_types_are_refused_before_loading(tmp_path):
    payload = sio.dumps({"format": M.FORMAT, "pipeline": os.system, "meta": "{}"})
    path = tmp_path / "evil.skops"
    path.write_bytes(payload)
    with pytest.raises(M.ModelIntegrityError, match="allow-list"):
        M.load_model(path, hashlib.sha256(payload).hexdigest())


def test_drivers_are_feature_names(synthetic):
    _, X, _, trained, _ = synthetic
    drivers = explain.top_drivers(trained, X.iloc[:3000], k=3)
    assert len(drivers) == 3000
    allowed = set(trained.feature_columns)
    assert all(len(d) <= 3 and set(d) <= allowed and len(set(d)) == len(d) for d in drivers)
    assert sum(len(d) == 3 for d in drivers) > 2000
    # A customer who is typical except for many complaints: complaints is the top driver.
    row = pd.DataFrame({c: [v] for c, v in trained.reference.items()}, index=["T1"])
    row["complaints_90d"] = 6.0
    assert explain.top_drivers(trained, row)[0][0] == "complaints_90d"


def test_linear_drivers_are_exact_contributions(synthetic):
    _, X, _, trained, _ = synthetic
    if trained.algorithm != "logistic_regression":
        pytest.skip("the chosen model is not linear for this seed")
    sample = X.iloc[:200]
    contrib = explain.contributions(trained, sample)
    clf = M.base_estimator(trained)
    prep = trained.pipeline.named_steps["prep"]
    prepared = M.prepare(sample, trained.numeric_columns, trained.categorical_columns)
    reference = M.prepare(pd.DataFrame({c: [v] for c, v in trained.reference.items()}),
                          trained.numeric_columns, trained.categorical_columns)
    expected = clf.decision_function(prep.transform(prepared)) - clf.decision_function(prep.transform(reference))
    assert np.allclose(contrib.sum(axis=1), expected)  # additive: contributions sum to the log-odds gap


def test_gradient_boosting_drivers(small_hgb):
    X, trained = small_hgb
    assert trained.algorithm == "hist_gradient_boosting"
    sample = X.iloc[:1500]
    exact = explain.contributions(trained, sample)
    fast = explain.top_drivers(trained, sample, k=3)
    exact_top1 = exact.idxmax(axis=1).where(exact.max(axis=1) > explain.EPSILON)
    agree = np.mean([(d[0] if d else None) == (e if isinstance(e, str) else None) for d, e in zip(fast, exact_top1)])
    assert agree > 0.9
    row = pd.DataFrame({c: [v] for c, v in trained.reference.items()}, index=["T1"])
    row["days_since_last_activity"] = 90.0
    assert explain.top_drivers(trained, row)[0][0] == "days_since_last_activity"


@pytest.mark.parametrize("algorithm,customers,calibration", [
    ("hist_gradient_boosting", 3_000, "sigmoid"), ("hist_gradient_boosting", 9_000, "isotonic"),
    ("logistic_regression", 3_000, "sigmoid")])
def test_every_model_kind_loads_with_the_allow_list(algorithm, customers, calibration, tmp_path):
    X, y = _frame(generate(customers, seed=8))
    trained = M.train(X, y, algorithms=(algorithm,))
    assert trained.train_summary["calibration"] == calibration
    path, digest = M.save_model(trained, tmp_path)
    loaded = M.load_model(path, digest)
    assert np.allclose(M.predict_proba(loaded, X.iloc[:300]), M.predict_proba(trained, X.iloc[:300]))
    assert explain.top_drivers(loaded, X.iloc[:50]) == explain.top_drivers(trained, X.iloc[:50])


def test_model_card(synthetic, tmp_path):
    _, _, _, trained, _ = synthetic
    path = model_card.write_model_card(trained, tmp_path, "ab" * 32, {"source": "synthetic", "run id": "r1"})
    text = path.read_text()
    assert path.name == "model_card.md"
    for png in ("model_card_roc.png", "model_card_calibration.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for fragment in ("ab" * 32, "Intended use", "Limits", "ROC-AUC", "95% CI", "Lift by decile",
                     "Performance by group", "`age`", "| <30 |", "| 60+ |", "Control group", "synthetic"):
        assert fragment in text, fragment
    for column in ("name", "email", "phone"):
        assert f"`{column}`" not in text
    # A loaded model has no held-out rows: the card says so instead of failing.
    loaded = M.TrainedModel(**{**trained.__dict__, "holdout": None})
    assert "Not available" in model_card.write_model_card(loaded, tmp_path / "b", "cd" * 32, {}).read_text()
