"""What a re-run carries over from the run before it, and what it still proves.

Fast: the consent trail on a real DuckDB file (consent_trail.py) -- a check whose exclusions are
unchanged is one event that names the earlier check, the count and the digest of its customers;
a new exclusion is an event of its own; `verify`'s replay recomputes every set and finds an edit.

Slow (the real runner, stages in this process, 240 synthetic customers): an unchanged re-run
writes the same rows as the first run to every per-run table (by content, run id and timestamps
aside), with no per-customer consent event, and the chain verifies; a changed text is analysed
again while the others are carried over; a customer erased between two runs is in none of the
next run's rows.
"""
from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest

from churn_workbench import audit, consent_trail, db, synthetic
from conftest import SMALL_TABLE_MODEL, Workspace, workspace_env
from inprocess import cli


# --- the consent trail -----------------------------------------------------------------------------

def _check(con, run_id: str, stage: str, purpose: str, refs: list[str]) -> None:
    """What consent.check records for a set of excluded refs."""
    log = audit.AuditLog(run_id, stage)
    log.event(consent_trail.CHECKED, purpose=purpose, excluded=len(refs), excluded_sha256=audit.digest_of(refs))
    consent_trail.record(con, log, purpose, refs)
    log.flush(con)


def _events(con) -> list[dict]:
    return [{"seq": s, "run_id": r, "stage": st, "event_type": e, "subject_ref": ref, "details": json.loads(d)}
            for s, r, st, e, ref, d in con.execute(
                "SELECT seq, run_id, stage, event_type, subject_ref, details FROM audit_log ORDER BY seq").fetchall()]


@pytest.fixture
def store(tmp_path):
    with db.session(tmp_path / "trail.duckdb") as con:
        yield con


def test_unchanged_exclusions_are_one_event_naming_the_earlier_check(store):
    con = store
    _check(con, "r1", "predict", "profiling", ["a", "b", "c"])
    _check(con, "r2", "predict", "profiling", ["c", "b", "a"])
    _check(con, "r2", "act", "marketing", ["a"])           # another stage and purpose: a trail of its own
    events = _events(con)
    second = [e for e in events if e["run_id"] == "r2" and e["stage"] == "predict"]
    assert [e["event_type"] for e in second] == [consent_trail.CHECKED, consent_trail.UNCHANGED]
    carried = second[1]["details"]
    assert carried["customers"] == 3 and carried["refs_sha256"] == audit.digest_of(["a", "b", "c"])
    assert carried["since_seq"] == 1 and carried["since_run"] == "r1" and carried["left"] == []
    assert [e["subject_ref"] for e in events if e["stage"] == "act" and e["event_type"] == consent_trail.EXCLUDED] == ["a"]
    assert consent_trail.check_trail(events, con) == []
    assert consent_trail.latest_set(con, "predict", "profiling").refs == {"a", "b", "c"}


def test_a_new_exclusion_is_its_own_event_and_one_that_ended_is_named(store):
    con = store
    _check(con, "r1", "feedback", "external_llm", ["a", "b", "c"])
    _check(con, "r2", "feedback", "external_llm", ["a", "b", "d"])   # c granted consent, d withdrew
    r2 = [e for e in _events(con) if e["run_id"] == "r2"]
    assert [e["subject_ref"] for e in r2 if e["event_type"] == consent_trail.EXCLUDED] == ["d"]
    carried = next(e["details"] for e in r2 if e["event_type"] == consent_trail.UNCHANGED)
    assert carried["customers"] == 2 and carried["left"] == ["c"] and carried["depth"] == 1
    assert consent_trail.latest_set(con, "feedback", "external_llm").refs == {"a", "b", "d"}
    _check(con, "r3", "feedback", "external_llm", ["x"])              # nothing carried: every ref listed
    r3 = [e for e in _events(con) if e["run_id"] == "r3"]
    assert [e["event_type"] for e in r3] == [consent_trail.CHECKED, consent_trail.EXCLUDED]
    assert consent_trail.check_trail(_events(con), con) == []


def test_the_replay_finds_a_carried_set_that_does_not_match(store):
    con = store
    _check(con, "r1", "predict", "profiling", ["a", "b", "c"])
    _check(con, "r2", "predict", "profiling", ["a", "b", "c"])
    events = _events(con)
    carried = next(e for e in events if e["event_type"] == consent_trail.UNCHANGED)
    carried["details"]["customers"] = 2                           # claims one customer fewer
    problems = consent_trail.check_trail(events, con)
    assert [seq for seq, _ in problems] == [carried["seq"]] and "do not match" in problems[0][1]
    first_excluded = next(e for e in events if e["event_type"] == consent_trail.EXCLUDED)
    events = [e for e in _events(con) if e["seq"] != first_excluded["seq"]]   # one exclusion dropped
    assert any("not the 3" in p for _, p in consent_trail.check_trail(events, con))


def test_a_long_carried_chain_lists_every_customer_again(store):
    con = store
    for number in range(consent_trail.MAX_DEPTH + 2):
        _check(con, f"r{number}", "predict", "profiling", ["a", "b"])
    kinds = [e["event_type"] for e in _events(con) if e["event_type"] != consent_trail.CHECKED]
    full = [i for i, k in enumerate(kinds) if k == consent_trail.EXCLUDED]
    assert len(full) == 4 and consent_trail.latest_set(con, "predict", "profiling").depth == 0
    assert consent_trail.check_trail(_events(con), con) == []


def test_a_customers_carried_exclusions_are_found_for_their_access_export(store):
    con = store
    _check(con, "r1", "predict", "profiling", ["a", "b"])
    _check(con, "r2", "predict", "profiling", ["a", "b"])      # a and b carried
    _check(con, "r3", "predict", "profiling", ["b", "c"])      # a left, c new, b carried
    unchanged = {e["run_id"]: e["seq"] for e in _events(con) if e["event_type"] == consent_trail.UNCHANGED}
    assert consent_trail.carried_for(con, "a") == [unchanged["r2"]]
    assert consent_trail.carried_for(con, "b") == [unchanged["r2"], unchanged["r3"]]
    assert consent_trail.carried_for(con, "c") == []


# --- pipeline runs ---------------------------------------------------------------------------------

N_CUSTOMERS = 240
# Columns that differ between runs by nature: the run, and when its rows were written.
VOLATILE = {"run_id", "scored_at", "created_at"}
KEYS = {"feedback_analysis": ["feedback_id"], "predictions": ["customer_id"], "actions": ["customer_id", "status"]}


def _run(ws: Workspace, run_id: str, inputs: list) -> None:
    result = cli("--run-id", run_id, *inputs, env={**workspace_env(ws), **SMALL_TABLE_MODEL, "WORKBENCH_LLM": "local"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def _rows(con, table: str, run_id: str) -> pd.DataFrame:
    frame = con.execute(f"SELECT * FROM {table} WHERE run_id = ?", [run_id]).df()
    frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
    return frame.sort_values(KEYS[table]).reset_index(drop=True)


def _inputs(folder, customers, feedback, consent) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in ("customers", "feedback", "consent")}
    for name, frame in (("customers", customers), ("feedback", feedback), ("consent", consent)):
        frame.to_parquet(paths[name], index=False)
    return ["--customers", paths["customers"], "--feedback", paths["feedback"], "--consent", paths["consent"]]


@pytest.fixture(scope="module")
def reruns(tmp_path_factory):
    """run-1 and run-2 on the same files."""
    root = tmp_path_factory.mktemp("reruns")
    ws = Workspace.at(root / "ws")
    data = synthetic.generate(N_CUSTOMERS, 5)
    inputs = _inputs(root / "inputs", data.customers, data.feedback, data.consent)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in workspace_env(ws).items():
            mp.setenv(name, value)
        _run(ws, "run-1", inputs)
        _run(ws, "run-2", inputs)
    return ws, root, data


@pytest.mark.slow
def test_an_unchanged_rerun_writes_the_first_runs_rows_and_still_verifies(reruns):
    ws, _, _ = reruns
    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        for table in KEYS:
            first, again = _rows(con, table, "run-1"), _rows(con, table, "run-2")
            assert len(first) > 0, table
            pd.testing.assert_frame_equal(first, again, obj=table)
        per_customer = con.execute("SELECT run_id, count(*) FROM audit_log WHERE event_type = 'consent_excluded' "
                                   "GROUP BY run_id").fetchall()
        carried = con.execute("SELECT stage, details FROM audit_log WHERE run_id = 'run-2' "
                              "AND event_type = 'consent_excluded_unchanged'").fetchall()
        checks = con.execute("SELECT count(*) FROM audit_log WHERE run_id = 'run-2' AND event_type = 'consent_checked'"
                             ).fetchone()[0]
    finally:
        con.close()
    assert dict(per_customer).get("run-1", 0) > 0 and "run-2" not in dict(per_customer)
    assert len(carried) == checks == 3 and all(json.loads(d)["customers"] > 0 for _, d in carried)
    result = cli("verify", env=workspace_env(ws))
    assert result.returncode == 0 and "audit OK" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_a_changed_text_is_analysed_again_and_the_rest_carried(reruns, tmp_path):
    ws, root, data = reruns
    copy = Workspace.at(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root, dirs_exist_ok=True)
    feedback = data.feedback.copy()
    changed = feedback["feedback_id"].iloc[0]
    feedback.loc[0, "text"] = "Please call me back, my name is Anna Smith and the price doubled."
    inputs = _inputs(tmp_path / "inputs", data.customers, feedback, data.consent)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in workspace_env(copy).items():
            mp.setenv(name, value)
        _run(copy, "run-3", inputs)
    con = duckdb.connect(str(copy.db_path), read_only=True)
    try:
        before, after = _rows(con, "feedback_analysis", "run-2"), _rows(con, "feedback_analysis", "run-3")
        events = {e: json.loads(d) for e, d in con.execute(
            "SELECT event_type, details FROM audit_log WHERE run_id = 'run-3' AND stage = 'feedback'").fetchall()}
    finally:
        con.close()
    assert events["anonymized"]["texts"] == 1 and events["analysis_reused"]["analysed"] == 1
    row = after.set_index("feedback_id").loc[changed]
    assert "Anna Smith" not in row["anonymized_text"] and "<PERSON" in row["anonymized_text"]
    assert row["source_sha256"] != before.set_index("feedback_id").loc[changed, "source_sha256"]
    same = after["feedback_id"] != changed
    pd.testing.assert_frame_equal(after[same].reset_index(drop=True),
                                  before[before["feedback_id"] != changed].reset_index(drop=True))
    assert cli("verify", env=workspace_env(copy)).returncode == 0


@pytest.mark.slow
def test_a_customer_erased_between_runs_is_in_no_carried_row(reruns, tmp_path):
    ws, root, _ = reruns
    copy = Workspace.at(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root, dirs_exist_ok=True)
    env = workspace_env(copy)
    con = duckdb.connect(str(copy.db_path), read_only=True)
    try:
        # A customer present in every per-run table of run-2.
        gone = con.execute("""SELECT a.customer_id FROM actions a JOIN predictions p USING (customer_id, run_id)
                              JOIN feedback_analysis f USING (customer_id, run_id) WHERE a.run_id = 'run-2'
                              ORDER BY 1 LIMIT 1""").fetchone()[0]
    finally:
        con.close()
    assert cli("subject", "forget", "--customer", gone, "--yes", env=env).returncode == 0
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        _run(copy, "run-3", ["--customers", root / "inputs" / "customers.parquet", "--feedback",
                             root / "inputs" / "feedback.parquet", "--consent", root / "inputs" / "consent.parquet"])
    con = duckdb.connect(str(copy.db_path), read_only=True)
    try:
        for table in ("customers", "feedback", "feedback_analysis", "predictions", "actions", "consent"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE customer_id = ?", [gone]).fetchone()[0] == 0, table
        kept = con.execute("SELECT count(*) FROM feedback_analysis WHERE run_id = 'run-3'").fetchone()[0]
        events = {e: json.loads(d) for e, d in con.execute(
            "SELECT event_type, details FROM audit_log WHERE run_id = 'run-3' AND stage = 'feedback'").fetchall()}
    finally:
        con.close()
    assert kept > 0 and events["analysis_reused"]["items"] == kept and events["analysis_reused"]["analysed"] == 0
    assert cli("verify", env=env).returncode == 0
