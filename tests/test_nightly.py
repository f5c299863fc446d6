"""Nightly re-runs do only what changed, keep governance, and give what a from-scratch run gives.

Real runner and real stages on 300 customers written to files, each stage called in this
process (tests/inprocess.py; the notebooks themselves are proven elsewhere). The claims are
counted from the runs' audit events and tables, never timed:

- an unchanged re-run reads no input, anonymizes, analyses, trains, scores and proposes nothing;
- a run with k changed customers (one with a new feedback text) anonymizes and analyses that one
  text and scores exactly those k customers; the retraining policy keeps the deployed model and
  says why; actions are proposed only for customers whose action context changed;
- its results equal a run that could reuse nothing, with the same model;
- a forced retrain trains; an erased customer stays erased in the runs after the erasure.
"""
from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest

from churn_workbench import synthetic
from conftest import SMALL_TABLE_MODEL, Workspace, workspace_env
from inprocess import cli

pytestmark = pytest.mark.slow

K_CHANGED = 3


def _write(folder, customers, feedback, consent) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in ("customers", "feedback", "consent")}
    customers.to_parquet(paths["customers"], index=False)
    feedback.to_parquet(paths["feedback"], index=False)
    consent.to_parquet(paths["consent"], index=False)
    return ["--customers", paths["customers"], "--feedback", paths["feedback"], "--consent", paths["consent"]]


def _changed_inputs(data) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """K_CHANGED labelled, not churned customers who may be profiled get new charges; the first
    of them writes one new feedback text."""
    profiled = set(data.consent.query("purpose == 'profiling' and granted")["customer_id"])
    customers = data.customers.copy()
    pick = customers[(customers["churned"] == 0) & customers["customer_id"].isin(profiled)]["customer_id"].head(K_CHANGED)
    changed = pick.tolist()
    rows = customers["customer_id"].isin(changed)
    customers.loc[rows, "monthly_charges"] = customers.loc[rows, "monthly_charges"] + 5.0
    extra = pd.DataFrame({"feedback_id": ["N000000001"], "customer_id": [changed[0]],
                          "text": ["The new price is too high, I am thinking about leaving."],
                          "created_at": [pd.Timestamp("2026-09-01 10:00")], "channel": ["email"]})
    feedback = pd.concat([data.feedback, extra.astype(data.feedback.dtypes.to_dict())], ignore_index=True)
    return customers, feedback, changed


def _run(ws: Workspace, run_id: str, inputs: list, env: dict | None = None, *extra) -> str:
    result = cli("--run-id", run_id, *inputs, *extra, env={**workspace_env(ws), **SMALL_TABLE_MODEL, "WORKBENCH_LLM": "local",
                                                           **(env or {})})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def _events(con, run_id: str) -> dict[str, dict]:
    return {e: json.loads(d) for e, d in con.execute(
        "SELECT event_type, details FROM audit_log WHERE run_id = ? AND subject_ref IS NULL ORDER BY seq", [run_id]).fetchall()}


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """run-1 (first), run-2 (unchanged), run-3 (k customers changed, one new text)."""
    root = tmp_path_factory.mktemp("nightly")
    ws = Workspace.at(root / "ws")
    data = synthetic.generate(300, 3)
    first = _write(root / "inputs-a", data.customers, data.feedback, data.consent)
    customers, feedback, changed = _changed_inputs(data)
    second = _write(root / "inputs-b", customers, feedback, data.consent)
    outputs = {"run-1": _run(ws, "run-1", first), "run-2": _run(ws, "run-2", first), "run-3": _run(ws, "run-3", second)}
    return ws, root, second, changed, outputs


def test_an_unchanged_rerun_does_no_per_customer_work(nightly):
    ws, _, _, _, outputs = nightly
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        ev = _events(con, "run-2")
        first = _events(con, "run-1")
    finally:
        con.close()
    assert "data_unchanged" in ev and "data_ingested" not in ev
    assert ev["anonymized"]["texts"] == 0 and ev["anonymized"]["reused"] == first["anonymized"]["texts"] > 0
    assert ev["analysis_reused"]["analysed"] == 0
    assert "model_reused" in ev and "model_trained" not in ev
    assert ev["predictions_written"]["rows"] == ev["predictions_written"]["reused_unchanged"] > 0
    assert ev["actions_reused"]["proposed"] == 0 and ev["actions_reused"]["items"] > 0
    assert "0 actions proposed" in outputs["run-2"]


def test_k_changed_customers_are_exactly_the_work(nightly):
    ws, _, _, changed, outputs = nightly
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        ev = _events(con, "run-3")
        scored = ev["predictions_written"]
        consents = [con.execute("SELECT count(*) FROM consent WHERE run_id = 'run-1'").fetchone()[0],
                    con.execute("SELECT count(*) FROM consent").fetchone()[0]]
        before = con.execute("SELECT customer_id, segment FROM predictions WHERE run_id = 'run-2'").df()
        after = con.execute("SELECT customer_id, segment, model_version FROM predictions WHERE run_id = 'run-3'").df()
        model_2 = con.execute("SELECT DISTINCT model_version FROM predictions WHERE run_id = 'run-2'").fetchall()
        new_keys = con.execute(
            """SELECT a.customer_id FROM actions a WHERE a.run_id = 'run-3' AND a.status <> 'control' AND NOT EXISTS (
                 SELECT 1 FROM actions b WHERE b.run_id = 'run-2' AND b.customer_id = a.customer_id
                 AND b.context_sha256 = a.context_sha256)""").df()["customer_id"].tolist()
    finally:
        con.close()
    assert ev["anonymized"]["texts"] == 1 and ev["analysis_reused"]["analysed"] == 1
    # The consent file is the one already imported: not read again, and nothing is lost.
    assert ev["data_ingested"]["consent_file_unchanged"] is True
    assert consents[0] == consents[1] > 0
    assert scored["rows"] - scored["reused_unchanged"] == K_CHANGED
    # Kept by the retraining policy: k of some 170 labelled rows is below 5%.
    assert ev["model_reused"]["policy"] == "retraining" and ev["model_reused"]["changed_rows"] == K_CHANGED
    assert "model_trained" not in ev and set(after["model_version"]) == {m for (m,) in model_2}
    assert "kept by the retraining policy" in outputs["run-3"] or "retraining policy" in outputs["run-3"]
    # Actions: proposed again only where the context changed, which only the k customers' own
    # change or a customer moving between segments can do.
    assert ev["actions_reused"]["proposed"] == len(new_keys)
    moved = set(before.merge(after, on="customer_id").query("segment_x != segment_y")["customer_id"])
    assert set(new_keys) <= set(changed) | moved


def test_results_equal_a_run_that_reuses_nothing(nightly, tmp_path):
    """A copy of the store before run-3 with every earlier result removed (the deployed model
    stays): run on the same inputs, it computes everything afresh and must give run-3's results."""
    ws, root, second, _, _ = nightly
    fresh = Workspace.at(tmp_path / "ws")
    shutil.copytree(ws.root, fresh.root, dirs_exist_ok=True)
    con = duckdb.connect(str(fresh.db_path))
    for table in ("feedback_analysis", "predictions", "actions", "ingest_log", "analysis_cache"):
        con.execute(f"DELETE FROM {table}")
    con.close()
    _run(fresh, "scratch", second)
    queries = {
        "feedback_analysis": "SELECT feedback_id, anonymized_text, sentiment, topics, summary, status FROM feedback_analysis "
                             "WHERE run_id = ? ORDER BY feedback_id",
        "predictions": "SELECT customer_id, churn_probability, segment, drivers, model_version FROM predictions "
                       "WHERE run_id = ? ORDER BY customer_id",
        "actions": "SELECT customer_id, segment, action_type, channel, discount_pct, message, status, context_sha256 "
                   "FROM actions WHERE run_id = ? ORDER BY customer_id"}
    a, b = duckdb.connect(str(ws.db_path), read_only=True), duckdb.connect(str(fresh.db_path), read_only=True)
    try:
        for table, sql in queries.items():
            incremental, scratch = a.execute(sql, ["run-3"]).df(), b.execute(sql, ["scratch"]).df()
            assert len(incremental) > 0, table
            pd.testing.assert_frame_equal(incremental, scratch, check_exact=False, rtol=1e-12, obj=table)
        assert _events(b, "scratch")["actions_reused"]["items"] == 0
    finally:
        a.close()
        b.close()


def test_forced_retrain_and_erasure_across_incremental_runs(nightly, tmp_path):
    ws, root, second, changed, _ = nightly
    copy = Workspace.at(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root, dirs_exist_ok=True)
    env = workspace_env(copy)
    forced = _run(copy, "run-4", second, None, "--retrain", "always")
    gone = changed[1]
    assert cli("subject", "forget", "--customer", gone, "--yes", env=env).returncode == 0
    _run(copy, "run-5", second)
    con = duckdb.connect(str(copy.db_path), read_only=True)
    try:
        ev4, ev5 = _events(con, "run-4"), _events(con, "run-5")
        for table in ("customers", "feedback", "feedback_analysis", "predictions", "actions", "consent"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE customer_id = ?", [gone]).fetchone()[0] == 0, table
    finally:
        con.close()
    assert "model_trained" in ev4 and "--retrain always" in ev4["retraining"]["reason"] and "retrained" in forced
    # The erased customer was in the model's training rows: the policy retrains without them.
    assert "model_trained" in ev5 and "left the training data" in ev5["retraining"]["reason"]
    assert "data_ingested" in ev5   # the erasure changed what the same files import
    assert cli("verify", env=env).returncode == 0
