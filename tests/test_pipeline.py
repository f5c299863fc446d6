"""The whole pipeline, executed for real by papermill on small synthetic data in a temporary DB."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from churn_workbench import config, db
from conftest import ROOT, pipeline_env

pytestmark = pytest.mark.slow


def run_pipeline(ws, *args, env_extra=None, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", *args], cwd=ROOT,
                          env=pipeline_env(ws, **(env_extra or {})), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two runs over the same 400 synthetic customers, shared by the tests of this module."""
    from conftest import Workspace
    root = tmp_path_factory.mktemp("e2e")
    ws = Workspace(root, root / "data", root / "data" / "workbench.duckdb", root / "audit")
    ws.data_dir.mkdir()
    first = run_pipeline(ws, "--synthetic", "400", "--seed", "3")
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_pipeline(ws, "--synthetic", "400", "--seed", "3")
    assert second.returncode == 0, second.stdout + second.stderr
    con = db.connect(ws.db_path, read_only=True)
    runs = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()]
    yield ws, con, runs, first, second
    con.close()


def test_summary_names_results_and_artefacts(two_runs):
    ws, _, runs, first, _ = two_runs
    out = first.stdout
    assert "SUCCEEDED" in out and "scored this run" in out and "segments:" in out
    assert str(ws.audit_dir / "runs" / runs[0]) in out


def test_five_executed_notebooks_and_manifest_per_run(two_runs):
    ws, _, runs, _, _ = two_runs
    for run_id in runs:
        run_dir = ws.audit_dir / "runs" / run_id
        assert sorted(p.name for p in run_dir.glob("*.ipynb")) == [
            "01_ingest.ipynb", "02_feedback.ipynb", "03_train.ipynb", "04_predict.ipynb", "05_act.ipynb"]
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["chain_head"]["seq"] > 0
        assert {"notebook:ingest", "notebook:act", "model"} <= set(manifest["artefacts"])


def test_all_tables_present(two_runs):
    _, con, _, _, _ = two_runs
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"customers", "feedback", "consent", "feedback_analysis", "predictions", "actions", "llm_egress",
            "model_registry", "runs", "audit_log"} <= tables


def test_every_profiled_customer_scored_exactly_once_per_run(two_runs):
    _, con, runs, _, _ = two_runs
    assert len(runs) == 2
    for run_id in runs:
        dupes = con.execute("SELECT count(*) - count(DISTINCT customer_id) FROM predictions WHERE run_id = ?", [run_id]).fetchone()[0]
        assert dupes == 0
        scored = {r[0] for r in con.execute("SELECT customer_id FROM predictions WHERE run_id = ?", [run_id]).fetchall()}
        may_profile = {r[0] for r in con.execute(
            "SELECT customer_id FROM consent WHERE purpose = 'profiling' "
            "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY recorded_at DESC) = 1 AND granted").fetchall()}
        # A customer labelled as churned has left: training data, never scored for retention.
        churned = {r[0] for r in con.execute("SELECT customer_id FROM customers WHERE churned = 1").fetchall()}
        assert churned & may_profile
        assert scored == may_profile - churned
        assert 0 < len(scored) < 400


def test_probabilities_and_segments_consistent(two_runs):
    _, con, runs, _, _ = two_runs
    settings = config.load_settings()
    assert con.execute("SELECT count(*) FROM predictions WHERE churn_probability < 0 OR churn_probability > 1").fetchone()[0] == 0
    for run_id in runs:  # segments are ranks: High = top share, Medium = next share
        counts = dict(con.execute("SELECT segment, count(*) FROM predictions WHERE run_id = ? GROUP BY 1", [run_id]).fetchall())
        n = sum(counts.values())
        assert counts.get("High", 0) == math.ceil(settings.segment_high_share * n - 1e-9)
        bounds = dict((s, (lo, hi)) for s, lo, hi in con.execute(
            "SELECT segment, min(churn_probability), max(churn_probability) FROM predictions WHERE run_id = ? GROUP BY 1",
            [run_id]).fetchall())
        assert bounds["High"][0] >= bounds["Medium"][1] and bounds["Medium"][0] >= bounds["Low"][1]


def test_no_action_without_marketing_consent(two_runs):
    _, con, _, _, _ = two_runs
    violating = con.execute(
        """SELECT count(*) FROM actions a WHERE a.status <> 'control' AND NOT EXISTS (
             SELECT 1 FROM (SELECT customer_id, arg_max(granted, recorded_at) AS g FROM consent
                            WHERE purpose = 'marketing' GROUP BY customer_id) m
             WHERE m.customer_id = a.customer_id AND m.g)""").fetchone()[0]
    assert violating == 0
    assert con.execute("SELECT count(*) FROM actions").fetchone()[0] > 0


def test_lineage_on_every_prediction_and_action(two_runs):
    _, con, _, _, _ = two_runs
    assert con.execute("SELECT count(*) FROM predictions WHERE model_version IS NULL OR run_id IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM actions WHERE status <> 'control' AND "
                       "(provider IS NULL OR model IS NULL OR prompt_version IS NULL OR model_version IS NULL)").fetchone()[0] == 0


def test_second_run_adds_history_without_duplicates(two_runs):
    _, con, runs, _, _ = two_runs
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 400
    assert con.execute("SELECT count(*) - count(DISTINCT feedback_id) FROM feedback").fetchone()[0] == 0
    per_run = con.execute("SELECT run_id, count(*) FROM predictions GROUP BY 1").fetchall()
    assert len(per_run) == 2 and per_run[0][1] == per_run[1][1]
    # The consent register keeps history but does not re-append identical records.
    assert con.execute("SELECT count(*) FROM consent WHERE run_id = ?", [runs[1]]).fetchone()[0] == 0
    # Unchanged feedback is not anonymized again on the second run.
    details = json.loads(con.execute("SELECT details FROM audit_log WHERE run_id = ? AND event_type = 'anonymized'",
                                     [runs[1]]).fetchone()[0])
    assert details["texts"] == 0 and details["reused"] > 0
    # Unchanged inputs are not re-imported, and unchanged customers keep their scores under the same model.
    events = dict(con.execute("SELECT event_type, details FROM audit_log WHERE run_id = ? AND event_type IN "
                              "('data_unchanged', 'predictions_written')", [runs[1]]).fetchall())
    assert "data_unchanged" in events
    written = json.loads(events["predictions_written"])
    assert written["reused_unchanged"] == written["rows"] > 0


def test_verify_passes_on_untouched_runs(two_runs):
    ws, _, _, _, _ = two_runs
    result = run_pipeline(ws, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit OK" in result.stdout


def test_runs_table_records_status(two_runs):
    _, con, runs, _, _ = two_runs
    assert [r[0] for r in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()] == ["succeeded"] * 2


def test_tampered_model_makes_prediction_stage_fail_clearly(two_runs):
    """Runs last in this module: it modifies the latest model artefact."""
    ws, con, runs, _, _ = two_runs
    path = con.execute("SELECT path FROM model_registry WHERE run_id = ?", [runs[-1]]).fetchone()[0]
    con.close()
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    result = run_pipeline(ws, "--stages", "predict")
    assert result.returncode == 1
    assert "predict: FAILED" in result.stdout and "ModelIntegrityError" in result.stdout
    assert "sha256" in result.stdout and "04_predict.ipynb" in result.stdout
    # verify notices the modified artefact too, and names it.
    verify = run_pipeline(ws, "verify")
    assert verify.returncode == 1 and ".skops" in verify.stdout
