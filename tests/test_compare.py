"""`compare`: two runs side by side, read from a store written here row by row (the tables the
pipeline writes), so every figure is known in advance."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from churn_workbench import compare, db
from churn_workbench.errors import UsageError
from conftest import ROOT

A, B = "20260101T080000Z-aaaaaa", "20260102T080000Z-bbbbbb"


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "data" / "workbench.duckdb"
    with db.session(path) as con:
        for run, day, params, provider in ((A, 1, {"synthetic_n": 100, "seed": 42, "action_segments": "High,Medium"}, "local"),
                                           (B, 2, {"synthetic_n": 100, "seed": 7, "action_segments": "High,Medium,Low",
                                                   "control_share": 0.3}, "groq")):
            con.execute("INSERT INTO runs VALUES (?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), 'succeeded', ?, ?, "
                        "NULL, NULL)", [run, f"2026-01-0{day} 08:00:00", f"2026-01-0{day} 08:01:40", json.dumps(params),
                                        provider])
        summary = {"customers": 100, "labelled": 80, "feedback": 50, "consent_records": 300, "features": ["a", "b"]}
        con.execute("INSERT INTO ingest_log VALUES (?, 'x', now(), ?)", [A, json.dumps(summary)])
        con.execute("INSERT INTO ingest_log VALUES (?, 'y', now(), ?)", [B, json.dumps(dict(summary, feedback=60,
                                                                                           features=["a", "c"]))])
        for seq, (run, event, details) in enumerate((
                (A, "data_ingested", {"sources": {"synthetic": {"sha256": "1" * 64}}}),
                (B, "data_ingested", {"sources": {"synthetic": {"sha256": "2" * 64}}}),
                (A, "targeting", {"method": "risk"}), (B, "targeting", {"method": "uplift"}),
                (A, "model_trained", {}), (B, "model_not_promoted", {}))):
            con.execute("INSERT INTO audit_log VALUES (?, '', ?, 'x', ?, 'ok', NULL, ?, '', '')",
                        [seq, run, event, json.dumps(details)])
        # Segments: c1 High->High, c2 High->Medium, c3 Low->High; c4 only in A.
        for run, rows in ((A, [("c1", 0.9, "High"), ("c2", 0.8, "High"), ("c3", 0.1, "Low"), ("c4", 0.2, "Low")]),
                          (B, [("c1", 0.9, "High"), ("c2", 0.5, "Medium"), ("c3", 0.7, "High")])):
            for cid, p, seg in rows:
                con.execute("INSERT INTO predictions (run_id, customer_id, churn_probability, segment) VALUES (?, ?, ?, ?)",
                            [run, cid, p, seg])
        for run, cid, kind, status in ((A, "c1", "discount", "ok"), (A, "c2", "discount", "control"),
                                       (B, "c1", "discount", "ok"), (B, "c3", "support_callback", "ok")):
            con.execute("INSERT INTO actions (run_id, customer_id, action_type, status) VALUES (?, ?, ?, ?)",
                        [run, cid, kind, status])
        metrics = json.dumps({"roc_auc": 0.75, "brier": 0.19})
        for run in (A, B):  # B kept A's model
            con.execute("INSERT INTO model_registry (model_version, run_id, algorithm, metrics, n_train, data_sha256) "
                        "VALUES (?, ?, 'blend', ?, 80, ?)", ["m" * 64, run, metrics, "d" * 64])
        con.execute("INSERT INTO llm_egress (request_id, run_id, stage, provider, model, n_items, outcome, prompt_tokens, "
                    "completion_tokens) VALUES ('r1', ?, 'feedback', 'groq', 'gpt-oss', 8, 'ok', 900, 100), "
                    "('r2', ?, 'feedback', 'groq', 'gpt-oss', 8, 'error', 900, 0)", [B, B])
    return path


def _row(frame, measure):
    match = frame[frame["measure"] == measure]
    assert len(match) == 1, f"no single row {measure!r} in\n{frame}"
    return match.iloc[0].to_dict()


def test_every_part_of_two_runs(store):
    c = compare.runs(store, A, B)
    assert _row(c.runs, "seed") == {"measure": "seed", "a": "42", "b": "7", "change": "changed"}
    assert _row(c.runs, "llm provider")["b"] == "groq"
    assert _row(c.inputs, "feedback items")["change"] == "+10"
    assert _row(c.inputs, "feature columns")["change"] == "added c; dropped b"
    assert _row(c.inputs, "synthetic input (sha256)")["change"] == "different content"
    assert _row(c.segments, "customers scored") == {"measure": "customers scored", "a": "4", "b": "3", "change": "-1"}
    assert list(c.segments["measure"][1:4]) == ["High risk", "Medium risk", "Low risk"]  # not alphabetical
    assert _row(c.segments, "average churn probability")["change"] == "+20.0 points"
    assert c.moved.loc["High", "Medium"] == 1 and c.moved.loc["Low", "High"] == 1 and "Low" not in c.moved.columns
    assert _row(c.model, "model version (sha256)")["change"] == "same model"
    assert _row(c.model, "model of this run")["b"].startswith("kept the deployed one")
    assert _row(c.model, "ROC-AUC (ranking quality, 0.5 = chance)")["change"] == "same"
    assert _row(c.actions, "customers chosen by") == {"measure": "customers chosen by", "a": "risk", "b": "uplift",
                                                      "change": "changed"}
    assert _row(c.actions, "held out as control group")["change"] == "-1"
    assert _row(c.actions, "action support_callback")["b"] == "1"
    assert _row(c.actions, "customers contacted in both runs")["a"] == "1"
    assert _row(c.llm, "feedback: requests sent") == {"measure": "feedback: requests sent", "a": "0", "b": "2", "change": "+2"}
    assert _row(c.llm, "feedback: requests that failed")["b"] == "1"
    assert _row(c.llm, "feedback: tokens")["b"] == "1,900"
    text = str(c)
    for title in ("Runs", "Inputs", "Segments", "Model", "Retention actions", "LLM usage", "segment in A (rows)"):
        assert title in text
    assert json.loads(json.dumps(c.to_dict()))["moved"]["High"]["Medium"] == 1


def test_default_is_the_two_newest_runs_and_bad_names_are_usage_errors(store):
    assert (compare.runs(store).a, compare.runs(store).b) == (A, B)
    with pytest.raises(UsageError, match="no run nope"):
        compare.runs(store, A, "nope")
    with pytest.raises(UsageError, match="name both runs"):
        compare.runs(store, A, None)
    with pytest.raises(UsageError, match="no database"):
        compare.runs(store.parent / "other.duckdb")


@pytest.mark.slow
def test_compare_on_the_command_line(store):
    env = dict(os.environ, WORKBENCH_DB=str(store))
    done = subprocess.run([sys.executable, "-m", "churn_workbench", "compare", A, B, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["b"] == B
    bad = subprocess.run([sys.executable, "-m", "churn_workbench", "compare", A], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "name two runs" in bad.stderr and bad.stdout == ""
