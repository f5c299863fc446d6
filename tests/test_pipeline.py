"""The whole pipeline, executed for real by papermill (one kernel per stage).

Most tests read the built `local` workspace (tests/workspaces.py: two runs over the same 300
synthetic customers, `run-1` and `run-2`). The README's customers-only command runs once more,
exactly as the README writes it, from the project root with only WORKBENCH_DB set.
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from churn_workbench import config, db
from conftest import SMALL_TABLE_MODEL, ROOT, workspace_env
from inprocess import cli
from workspaces import run_pipeline


@pytest.fixture
def two_runs(built_local):
    """The built workspace, an open read-only connection, its run ids and each run's output."""
    ws = built_local.restore()
    con = db.connect(ws.db_path, read_only=True)
    runs = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()]
    yield ws, con, runs, built_local.output("run-1"), built_local.output("run-2")
    con.close()


def test_summary_names_results_and_artefacts(two_runs):
    ws, _, runs, first, _ = two_runs
    out = first
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
        assert 0 < len(scored) < 300


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
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 300
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
    ws, con, _, _, _ = two_runs
    con.close()
    result = cli("verify", env=workspace_env(ws))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit OK" in result.stdout


def test_runs_table_records_status(two_runs):
    _, con, runs, _, _ = two_runs
    assert [r[0] for r in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()] == ["succeeded"] * 2


def test_tampered_model_makes_prediction_stage_fail_clearly(two_runs):
    """A real kernel raising ModelIntegrityError: the stage fails by that name, in one line."""
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
    verify = cli("verify", env=workspace_env(ws))
    assert verify.returncode == 1 and ".skops" in verify.stdout


# --------------------------------------------------------------------------- the README's customers-only command
def clean_env(db_path=None, **extra) -> dict:
    """The user's environment: no WORKBENCH_* settings (so every path is derived), optionally the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    # A small table cannot always lift a model over the quality floor; the floor is tested in
    # test_train_stage.py, these runs test everything around it.
    env.update(PYTHONUNBUFFERED="1", **SMALL_TABLE_MODEL, **{k: str(v) for k, v in extra.items()})
    if db_path:
        env["WORKBENCH_DB"] = str(db_path)
    return env


def run(command: list[str] | str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    if isinstance(command, str):
        command = shlex.split(command)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def pipeline(*args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return run([sys.executable, "run_pipeline.py", "--quiet", *map(str, args)], env, timeout)


def rows(db_path, sql, params=()):
    con = db.connect(db_path, read_only=True)  # with the workbench's SQL functions (consent's match key)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def summary_line(stdout: str, label: str) -> str:
    return next((line.strip() for line in stdout.splitlines() if line.strip().startswith(label)), "")


def readme_customers_only_command() -> str:
    """The customers-only example of the README's "Your own data" section, exactly as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)
                for line in block.splitlines() if "run_pipeline.py --customers" in line]
    assert len(commands) == 1, commands
    return commands[0]


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README's customers-only command, run exactly as written from the project root, with only
    WORKBENCH_DB set (so the workspace is derived from the database's folder)."""
    root = tmp_path_factory.mktemp("readme")
    db_path = root / "ws" / "workbench.duckdb"
    command = readme_customers_only_command()
    assert command.startswith(".venv/bin/python run_pipeline.py --customers ")
    assert "--feedback" not in command and "--consent" not in command
    env = clean_env(db_path)
    result = run(command, env)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = rows(db_path, "SELECT run_id FROM runs")[0][0]
    return db_path, env, result, run_id


@pytest.mark.slow
def test_readme_customers_only_example_runs_end_to_end(readme_run):
    db_path, _, result, run_id = readme_run
    assert "SUCCEEDED" in result.stdout
    assert rows(db_path, "SELECT count(*) FROM predictions WHERE run_id = ?", [run_id])[0][0] > 0
    assert "feedback: none" in result.stdout


@pytest.mark.slow
def test_churned_customers_are_never_scored_nor_actioned(readme_run):
    db_path, _, result, run_id = readme_run
    churned = {r[0] for r in rows(db_path, "SELECT customer_id FROM customers WHERE churned = 1")}
    assert len(churned) > 50
    scored = {r[0] for r in rows(db_path, "SELECT customer_id FROM predictions WHERE run_id = ?", [run_id])}
    acted = {r[0] for r in rows(db_path, "SELECT customer_id FROM actions WHERE run_id = ?", [run_id])}
    assert scored and acted
    assert not churned & scored and not churned & acted
    # They still trained the model: the labelled set includes them (less those who objected to profiling).
    from churn_workbench import consent
    may_profile = rows(db_path, f"SELECT count(*) FROM customers c JOIN ({consent.decision_sql()}) d "
                                "USING (customer_id) WHERE d.purpose = 'profiling' AND d.allowed AND c.churned IS NOT NULL")[0][0]
    assert may_profile < 600
    assert rows(db_path, "SELECT n_train FROM model_registry WHERE run_id = ?", [run_id])[0][0] == may_profile
    line = summary_line(result.stdout, "not scored:")
    assert f"{len(churned)} already churned" in line, result.stdout
    assert "objected to or withdrew profiling" in line  # consent_given = No
    assert "held out as control group" in summary_line(result.stdout, "not actioned:")


@pytest.mark.slow
def test_printed_next_command_works_as_printed(readme_run):
    _, env, result, _ = readme_run
    line = summary_line(result.stdout, "next:")
    hint = re.search(r"\(or: (.*)\)", line).group(1)
    assert hint.startswith(".venv/bin/python run_pipeline.py verify")
    verified = run(hint, env, timeout=300)
    assert verified.returncode == 0 and "audit OK" in verified.stdout, verified.stdout + verified.stderr


@pytest.mark.slow
def test_finished_run_id_is_not_told_to_resume(readme_run):
    db_path, env, _, run_id = readme_run
    again = pipeline("--synthetic", "50", "--run-id", run_id, env=env)
    assert again.returncode == 2
    assert "already succeeded" in again.stderr and "--resume" not in again.stderr
    resumed = pipeline("--resume", run_id, env=env)
    assert resumed.returncode == 2 and "nothing to resume" in resumed.stderr


@pytest.mark.slow
def test_the_database_folder_is_its_workspace(readme_run):
    db_path, _, _, run_id = readme_run
    ws = db_path.parent
    assert (ws / "audit" / "runs" / run_id / "manifest.json").is_file()
    assert len(list((ws / "audit" / "runs" / run_id).glob("*.ipynb"))) == 5
    assert list((ws / "models" / run_id).glob("*.skops"))
    assert (ws / "snapshot").is_dir() and (ws / ".subject_key").is_file()
    assert (ws / "workbench.duckdb.lock").is_file()
    assert not (ROOT / "audit" / "runs" / run_id).exists()
    manifest = json.loads((ws / "audit" / "runs" / run_id / "manifest.json").read_text())
    # recorded relative to the workspace, and every one of them inside it
    assert all(not Path(a["path"]).is_absolute() and (ws / a["path"]).is_file()
               for a in manifest["artefacts"].values())


@pytest.mark.slow
def test_executed_notebooks_render_offline(readme_run):
    db_path, _, _, run_id = readme_run
    run_dir = db_path.parent / "audit" / "runs" / run_id
    train = json.loads((run_dir / "03_train.ipynb").read_text())
    shown = [o for c in train["cells"] for o in c.get("outputs", [])]
    markdown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in shown)
    assert "ROC curve](data:image/png;base64," in markdown and "Calibration curve](data:image/png;base64," in markdown
    for notebook in run_dir.glob("*.ipynb"):
        nb = json.loads(notebook.read_text())
        assert "widgets" not in nb["metadata"], notebook.name
        for cell in nb["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                assert "application/vnd.jupyter.widget-view+json" not in data, notebook.name
                text = json.dumps(data)
                assert not re.search(r"!\[[^\]]*\]\((?!data:)", text), f"{notebook.name}: a linked image"
                assert not re.search(r"src=\\\\?\"(?:https?:)?//", text), f"{notebook.name}: a remote resource"
