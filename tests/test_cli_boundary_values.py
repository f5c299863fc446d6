"""Command-line values refused in one line (exit 2) before anything runs: an empty --db, empty or
out-of-order --stages, absurdly large numbers, a run id that differs from a stored one in letter
case only, and --allow-columns naming a column that is not a feature of the imported customers."""
from __future__ import annotations

import pytest

from churn_workbench import cli, db


@pytest.fixture
def store(tmp_path):
    """A database with one run `base-1` and the column roles an import records."""
    path = tmp_path / "wb.duckdb"
    with db.session(path) as con:
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('base-1', now(), 'succeeded')")
        con.executemany("INSERT INTO customer_columns (column_name, role) VALUES (?, ?)",
                        [("customer_id", "id"), ("churned", "label"), ("tenure_months", "feature"),
                         ("name", "name"), ("age", "sensitive")])
    return path


def _refused(argv, capsys, *words):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def test_an_empty_db_is_refused_not_read_as_the_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(["--synthetic", "60", "--db", ""], capsys, "empty --db")
    _refused(["verify", "--db", " "], capsys, "empty --db")
    _refused(["subject", "export", "--customer", "C1", "--db", ""], capsys, "empty --db")


@pytest.mark.parametrize("stages", ["", ",", "ingest,,train"])
def test_empty_stage_names_are_refused(stages, tmp_path, capsys):
    _refused(["--synthetic", "60", "--stages", stages, "--db", str(tmp_path / "wb.duckdb")], capsys, "empty")


@pytest.mark.parametrize("stages", ["feedback,ingest", "train,ingest"])
def test_stages_out_of_order_or_twice_are_refused_naming_the_order(stages, tmp_path, capsys):
    err = _refused(["--synthetic", "60", "--stages", stages, "--db", str(tmp_path / "wb.duckdb")], capsys,
                   "ingest,feedback,train,predict,act")
    assert "--stages " + ",".join(dict.fromkeys(s for s in ("ingest", "feedback", "train") if s in stages)) in err
    assert not (tmp_path / "wb.duckdb").exists()


@pytest.mark.parametrize("argv,words", [
    (["--synthetic", "99999999999999999999"], ["--synthetic", "10,000,000"]),
    (["--max-train-rows", "99999999999999999999"], ["--max-train-rows", "1,000,000,000"]),
])
def test_huge_numbers_are_refused_with_the_bounds(argv, words, tmp_path, capsys):
    _refused([*argv, "--db", str(tmp_path / "wb.duckdb")], capsys, *words)


def test_huge_retention_periods_are_refused_with_the_bounds(store, capsys, monkeypatch):
    _refused(["subject", "purge", "--older-than", "99999999999999999999", "--dry-run", "--db", str(store)], capsys,
             "36500")
    _refused(["subject", "purge", "--older-than", "1000000", "--dry-run", "--db", str(store)], capsys, "36500")
    monkeypatch.setenv("WORKBENCH_RETENTION_FEEDBACK_DAYS", "99999999999")
    _refused(["subject", "purge", "--dry-run", "--db", str(store)], capsys, "WORKBENCH_RETENTION_FEEDBACK_DAYS", "36500")


@pytest.mark.parametrize("run_id", ["Base-1", "BASE-1"])
def test_a_run_id_differing_in_case_only_is_the_same_run(store, run_id, capsys):
    _refused(["--synthetic", "60", "--db", str(store), "--run-id", run_id], capsys, "base-1", "letter case")


def test_resume_with_a_case_variant_names_the_stored_run(store, capsys):
    _refused(["--resume", "BASE-1", "--db", str(store)], capsys, "no such run", "did you mean base-1")


@pytest.mark.parametrize("value,words", [
    ("nosuchcol", ["'nosuchcol'", "not a column"]),
    ("tenure_month", ["did you mean 'tenure_months'"]),
    ("customer_id", ["the id column"]),
    ("name", ["the name column"]),
    ("age", ["the sensitive column"]),
    ("churned", ["the label column"]),
])
def test_allow_columns_is_checked_like_the_data_config(store, value, words, capsys):
    _refused(["--stages", "train", "--allow-columns", value, "--db", str(store)], capsys, "--allow-columns", *words)


@pytest.mark.parametrize("argv,flag", [
    (["--synthetic", "60", "--action-segments", ""], "--action-segments"),
    (["--customers", " "], "--customers"),
    (["--allow-columns", ""], "--allow-columns"),
    (["subject", "export", "--customer", "C1", "--out", ""], "--out"),
    (["subject", "export", "--customer", ""], "--customer"),
    (["compare", "--db", ""], "--db"),
])
def test_an_empty_option_value_is_refused_never_read_as_the_default(argv, flag, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db_given = "--db" in argv
    _refused([*argv, *([] if db_given else ["--db", str(tmp_path / "wb.duckdb")])], capsys, f"empty {flag}")
    assert not (tmp_path / "wb.duckdb").exists() and not (tmp_path / "exports").exists()


@pytest.mark.parametrize("segments", ["High,,Low", "High,"])
def test_an_empty_segment_name_is_refused(segments, tmp_path, capsys):
    _refused(["--synthetic", "60", "--action-segments", segments, "--db", str(tmp_path / "wb.duckdb")], capsys,
             "--action-segments", "empty segment")


@pytest.mark.parametrize("flag,value,twice", [("--stages", "ingest,ingest", "ingest"),
                                              ("--action-segments", "High, High", "High"),
                                              ("--action-segments", "High,Low,Medium,Low", "Low"),
                                              ("--allow-columns", "tenure_months,x,tenure_months", "tenure_months")])
def test_a_name_given_twice_in_any_list_is_refused(flag, value, twice, tmp_path, capsys):
    _refused(["--synthetic", "60", flag, value, "--db", str(tmp_path / "wb.duckdb")], capsys,
             flag, f"{twice} given twice")
    assert not (tmp_path / "wb.duckdb").exists()


def test_an_empty_column_name_in_allow_columns_is_refused(store, capsys):
    _refused(["--stages", "train", "--allow-columns", "tenure_months,,x", "--db", str(store)], capsys,
             "--allow-columns", "empty column name")


@pytest.mark.parametrize("value,words", [
    ("tenure_month", ["the synthetic customers", "did you mean 'tenure_months'"]),
    ("age", ["the sensitive column"]),
])
def test_allow_columns_with_ingest_in_the_run_is_checked_before_any_stage(value, words, tmp_path, capsys):
    path = tmp_path / "wb.duckdb"
    _refused(["--synthetic", "60", "--stages", "ingest,train", "--allow-columns", value, "--db", str(path)], capsys,
             "--allow-columns", *words)
    assert not path.exists()


def test_allow_columns_is_checked_against_the_customers_file(tmp_path, capsys):
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,churned,tenure,plan\nC1,yes,3,basic\nC2,no,40,premium\n", encoding="utf-8")
    _refused(["--customers", str(customers), "--allow-columns", "plans", "--db", str(tmp_path / "wb.duckdb")], capsys,
             "'plans'", str(customers), "did you mean 'plan'")
    assert not (tmp_path / "wb.duckdb").exists()


@pytest.mark.parametrize("argv,words", [
    (["--synthetic", "60", "--json"], ["--json is an option of verify"]),
    (["--synthetic", "60", "--heads", "h.jsonl"], ["--heads is an option of verify"]),
    (["verify", "--synthetic", "60"], ["--synthetic is not an option of verify"]),
    (["verify", "--stages", "ingest"], ["--stages is not an option of verify"]),
])
def test_an_option_of_another_command_is_refused_not_ignored(argv, words, tmp_path, capsys):
    path = tmp_path / "wb.duckdb"
    _refused([*argv, "--db", str(path)], capsys, *words)
    assert not path.exists()


@pytest.mark.parametrize("argv", [["compare", "BASE-1", "base-1"], ["--simulate-outcomes", "BASE-1"],
                                  ["--resume", "Base-1"]])
def test_every_lookup_of_a_run_names_its_case_twin(store, argv, capsys):
    _refused([*argv, "--db", str(store)], capsys, "did you mean base-1")


@pytest.mark.parametrize("argv,words", [
    (["dashboard", "--db", ""], ["empty --db"]),
    (["dashboard", "--ip", " "], ["empty --ip"]),
    (["dashboard", "--port", "70000"], ["--port=70000", "from 1 to 65535"]),
    (["dashboard", "--port", "0"], ["--port=0"]),
])
def test_the_dashboard_command_applies_the_same_rules(argv, words, capsys):
    _refused(argv, capsys, *words)
