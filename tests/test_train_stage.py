"""The train and predict stages on a small synthetic store: consent, sensitive columns, leakage
warnings in the audit, the quality gate, rank-based segments."""
from __future__ import annotations

import json

import pytest

from churn_workbench import db, model
from churn_workbench.stages import ingest, predict, train
from churn_workbench.stages.params import IngestParams, PredictParams, TrainParams


def _events(con, event_type):
    return [json.loads(d) for (d,) in con.execute(
        "SELECT details FROM audit_log WHERE event_type = ? ORDER BY seq", [event_type]).fetchall()]


def _store(workspace, monkeypatch, customers: int):
    ingest.run(IngestParams(synthetic_n=customers, seed=5, run_id=""))
    monkeypatch.setenv("WORKBENCH_MODEL_NESTED_MAX_ROWS", "0")
    return workspace


@pytest.fixture
def store(workspace, monkeypatch):
    """600 synthetic customers. Training here is without the nested evaluation (a sixth of the
    time), except where a refusal must rest on the default evidence."""
    return _store(workspace, monkeypatch, 600)


@pytest.fixture
def gate_store(workspace, monkeypatch):
    """200 synthetic customers (134 labelled ones the model may profile): enough signal for a first
    model to be promoted, and the default (nested) evidence of a second costs a third of 600's."""
    return _store(workspace, monkeypatch, 200)


def test_objection_to_profiling_keeps_customers_out_of_training(store):
    with db.session(store.db_path) as con:
        ids = [r[0] for r in con.execute("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 300").fetchall()]
        con.execute("INSERT INTO consent (customer_id, purpose, granted, recorded_at, source) "
                    "SELECT customer_id, 'profiling', false, now(), 'test' FROM customers WHERE customer_id IN "
                    "(SELECT unnest(?::VARCHAR[]))", [ids])
        objecting = con.execute(
            "SELECT count(*) FROM (SELECT customer_id, arg_max(granted, recorded_at) g FROM consent "
            "WHERE purpose = 'profiling' GROUP BY customer_id) WHERE NOT g").fetchone()[0]
        total = con.execute("SELECT count(*) FROM customers").fetchone()[0]
        no_record = total - con.execute("SELECT count(DISTINCT customer_id) FROM consent WHERE purpose = 'profiling'").fetchone()[0]
    summary = train.run(TrainParams(run_id=""))
    assert summary["excluded_by_consent"] == objecting + no_record >= 300
    with db.session(store.db_path) as con:
        event = _events(con, "training_consent_checked")[-1]
    assert event["excluded"] == summary["excluded_by_consent"] and event["used"] == total - event["excluded"]


def test_sensitive_columns_are_not_features_nor_drivers_and_are_reported(store):
    with db.session(store.db_path) as con:
        con.execute("UPDATE customer_columns SET role = 'sensitive' WHERE column_name = 'age'")
    summary = train.run(TrainParams(run_id=""))
    trained = model.load_model(summary["path"], summary["model_version"])
    assert "age" not in trained.feature_columns and trained.sensitive_columns == ["age"]
    card = open(summary["card_path"]).read()
    assert "### `age` (not a feature)" in card and "| 60+ |" in card and "ECE" in card
    result = predict.run(PredictParams(run_id=""))
    drivers = [d for js in result["predictions"]["drivers"] for d in json.loads(js)]
    assert drivers and "age" not in drivers


def test_leakage_is_excluded_with_one_audited_warning_each(store):
    with db.session(store.db_path) as con:
        con.execute('ALTER TABLE customers ADD COLUMN "churn reason" VARCHAR')
        con.execute('UPDATE customers SET "churn reason" = CASE WHEN churned THEN \'moved\' ELSE NULL END')
        con.execute("ALTER TABLE customers ADD COLUMN row_no BIGINT")
        con.execute("UPDATE customers SET row_no = CAST(substr(customer_id, 2) AS BIGINT)")
        con.execute("INSERT INTO customer_columns VALUES ('churn reason', 'feature', 'VARCHAR', NULL, NULL), "
                    "('row_no', 'feature', 'BIGINT', NULL, NULL)")
    summary = train.run(TrainParams(run_id=""))
    assert len(summary["leakage_warnings"]) == 2
    assert any("'churn reason'" in w for w in summary["leakage_warnings"])
    assert any("'row_no'" in w and "id-like" in w for w in summary["leakage_warnings"])
    trained = model.load_model(summary["path"], summary["model_version"])
    assert not {"churn reason", "row_no"} & set(trained.feature_columns)
    with db.session(store.db_path) as con:
        assert len(_events(con, "leakage_warning")) == 2
    # The data config's override keeps a column the guard would exclude.
    kept = train.run(TrainParams(run_id="", allow_columns="row_no"))
    assert any("'row_no' kept" in w for w in kept["leakage_warnings"])
    candidate = model.load_model(kept["candidate_path"], kept["candidate_version"])
    assert "row_no" in candidate.feature_columns and "churn reason" not in candidate.feature_columns


def test_quality_gate_keeps_the_previous_model(gate_store, monkeypatch):
    store = gate_store
    first = train.run(TrainParams(run_id="run-a"))   # the deployed model: only its promotion matters
    assert first["promoted"]
    monkeypatch.delenv("WORKBENCH_MODEL_NESTED_MAX_ROWS")   # the refusal rests on the default evidence
    with db.session(store.db_path) as con:  # labels scrambled: the new model cannot beat the old one
        con.execute("UPDATE customers SET churned = (hash(customer_id) % 3 = 0) WHERE churned IS NOT NULL")
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('run-b', now(), 'interactive')")
    second = train.run(TrainParams(run_id="run-b"))
    assert not second["promoted"] and second["model_version"] == first["model_version"]
    assert any(why in second["gate"] for why in ("better than chance", "below the floor", "worse than the deployed"))
    with db.session(store.db_path) as con:
        assert con.execute("SELECT model_version FROM model_registry WHERE run_id = 'run-b'").fetchone()[0] == first["model_version"]
        rejected = _events(con, "model_not_promoted")
    assert rejected and rejected[-1]["kept"] == first["model_version"]


def test_a_first_model_below_the_floor_deploys_nothing_and_says_so(store, monkeypatch):
    """What a refused first model leaves behind (that the gate refuses a model without signal, on
    the default evidence, is test_quality_gate_keeps_the_previous_model's second model)."""
    monkeypatch.setenv("WORKBENCH_MODEL_MIN_AUC", "0.999")   # beyond any model of these customers
    summary = train.run(TrainParams(run_id=""))
    assert summary["outcome"] == "none" and "not promoted" in summary["decision"]
    assert "below the floor" in summary["gate"]
    assert predict.run(PredictParams(run_id=""))["scored"] == 0


def test_segments_rank_the_scored_customers(store, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SEGMENT_HIGH_SHARE", "0.1")
    monkeypatch.setenv("WORKBENCH_SEGMENT_MEDIUM_SHARE", "0.2")
    train.run(TrainParams(run_id=""))
    p = predict.run(PredictParams(run_id=""))["predictions"]
    counts = p["segment"].value_counts()
    n = len(p)
    assert counts["High"] == -(-n // 10) and counts["Medium"] == -(-n * 2 // 10)
    assert p.loc[p.segment == "High", "churn_probability"].min() >= p.loc[p.segment == "Medium", "churn_probability"].max()
