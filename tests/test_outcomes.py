"""Outcome files: validated like every input, attached to the run whose actions they follow, audited."""
import json

import pandas as pd
import pytest

from churn_workbench import db, outcomes
from churn_workbench.errors import InputError, UsageError


def _write(tmp_path, text, name="o.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_csv_and_parquet(tmp_path):
    path = _write(tmp_path, "customer_id,churned,observed_at\nC1,yes,2026-03-01\nC2,0,2026-03-01\n C3 ,TRUE,2026-03-02T10:00\n")
    frame = outcomes.read_outcomes(path)
    assert frame["customer_id"].tolist() == ["C1", "C2", "C3"] and frame["churned"].tolist() == [1, 0, 1]
    assert frame["observed_at"].notna().all()
    pq = tmp_path / "o.parquet"
    pd.DataFrame({"customer_id": ["A", "B"], "churned": [True, False],
                  "observed_at": pd.to_datetime(["2026-03-01", "2026-03-02"])}).to_parquet(pq)
    assert outcomes.read_outcomes(pq)["churned"].tolist() == [1, 0]


@pytest.mark.parametrize("text, message", [
    ("customer_id,observed_at\nC1,2026-03-01\n", "required column 'churned'"),
    ("customer_id,churned,observed_at\n,1,2026-03-01\n", "'customer_id' is blank at row 1"),
    ("customer_id,churned,observed_at\nC1,1,2026-03-01\nC2,0,2026-03-01\nC1,0,2026-03-01\n", "repeats a customer at row 3"),
    ("customer_id,churned,observed_at\nC1,1,2026-03-01\nC2,maybe,2026-03-01\n", "'churned' must be 0/1.*row 2"),
    ("customer_id,churned,observed_at\nC1,,2026-03-01\n", "'churned' must be 0/1.*row 1"),
    ("customer_id,churned,observed_at\nC1,1,\n", "'observed_at' is blank at row 1"),
    ("customer_id,churned,observed_at\nC1,1,soon\n", "'observed_at' has values that are not dates at row 1"),
    ("customer_id,churned,observed_at\n", "no data rows"),
])
def test_bad_files_are_one_line_errors_naming_file_column_and_row(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as err:
        outcomes.read_outcomes(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 2


def _store_with_two_runs(path):
    with db.session(path) as con:
        for run_id, day in (("r1", "2026-01-10"), ("r2", "2026-02-10")):
            con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, ?, 'succeeded')", [run_id, day])
            con.execute("""INSERT INTO actions (run_id, customer_id, segment, action_type, status, created_at)
                           SELECT ?, 'C' || i, 'High', 'discount', CASE WHEN i % 4 = 0 THEN 'control' ELSE 'proposed' END, ?
                           FROM range(1, 41) t(i)""", [run_id, day])


def test_outcomes_attach_to_the_run_whose_actions_they_follow_and_are_audited(workspace, tmp_path):
    _store_with_two_runs(workspace.db_path)
    rows = "\n".join(f"C{i},{i % 2},2026-01-20" for i in range(1, 45))  # C41..C44 are in no experiment
    path = _write(tmp_path, "customer_id,churned,observed_at\n" + rows + "\n")
    attached = outcomes.attach(workspace.db_path, path)
    assert attached.run_id == "r1"  # r2 acted after these outcomes were observed
    assert (attached.treated, attached.control, attached.not_in_run) == (30, 10, 4)
    later = _write(tmp_path, "customer_id,churned,observed_at\nC1,1,2026-03-01\n", "later.csv")
    assert outcomes.attach(workspace.db_path, later).run_id == "r2"
    again = outcomes.attach(workspace.db_path, later, run_id="r1")  # replaces r1's outcomes
    con = db.connect(workspace.db_path, read_only=True)
    try:
        assert again.rows == 1
        assert con.execute("SELECT count(*) FROM outcomes WHERE run_id = 'r1'").fetchone()[0] == 1
        events = con.execute("SELECT run_id, stage, details FROM audit_log WHERE event_type = 'outcomes_attached' "
                             "ORDER BY seq").fetchall()
    finally:
        con.close()
    assert [e[0] for e in events] == ["r1", "r2", "r1"] and {e[1] for e in events} == {"outcomes"}
    details = json.loads(events[0][2])
    assert details["rows"] == 44 and len(details["source_sha256"]) == 64
    assert not any("C1" in e[2] for e in events)  # counts and hashes only, never a customer id


def test_an_outcome_observed_before_the_actions_is_rejected(workspace, tmp_path):
    _store_with_two_runs(workspace.db_path)
    path = _write(tmp_path, "customer_id,churned,observed_at\nC1,1,2026-03-01\nC2,1,2026-02-01\n")
    with pytest.raises(InputError, match=r"'observed_at' is before run r2's actions .* row 2"):
        outcomes.attach(workspace.db_path, path, run_id="r2")
    with pytest.raises(UsageError, match="no run's actions precede"):
        outcomes.attach(workspace.db_path, _write(tmp_path, "customer_id,churned,observed_at\nC1,1,2025-01-01\n", "x.csv"))
    with pytest.raises(UsageError, match="--outcomes-for nope: that run has no actions"):
        outcomes.attach(workspace.db_path, path, run_id="nope")


def test_outcome_commands_fail_with_one_line_usage_errors(workspace, tmp_path, capsys):
    from churn_workbench.cli import main
    assert main(["--outcomes-for", "r1"]) == 2
    assert "--outcomes-for needs --outcomes FILE" in capsys.readouterr().err
    assert main(["--simulate-outcomes", "r1"]) == 2
    assert "no database yet" in capsys.readouterr().err
    _store_with_two_runs(workspace.db_path)
    assert main(["--simulate-outcomes", "nope"]) == 2
    assert "--simulate-outcomes nope: no such run" in capsys.readouterr().err
    bad = _write(tmp_path, "customer_id,churned,observed_at\nC1,2,2026-03-01\n")
    assert main(["--outcomes", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: column 'churned' must be 0/1" in err and err.count("\n") == 1
    good = _write(tmp_path, "customer_id,churned,observed_at\n" + "".join(f"C{i},{i % 3 == 0:d},2026-03-01\n"
                                                                          for i in range(1, 41)), "good.csv")
    assert main(["--outcomes", str(good), "--outcomes-for", "r2"]) == 0
    out = capsys.readouterr().out
    assert "Attached 40 outcomes to run r2: 30 treated, 10 control" in out
    assert "not enough data (control n=10 < 30)" in out
