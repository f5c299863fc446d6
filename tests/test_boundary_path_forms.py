"""A path from outside is taken as typed, and a form that would be read as something else is
refused in one line naming the option, before anything is read or made: a space at either end
(invisible when shown; `wb.duckdb ` would be a second database), a trailing separator where a
file is meant (the OS would quietly drop it), and a '?' in a database path (DuckDB reads what
follows as options and cuts its write-ahead log's name there)."""
from __future__ import annotations

import pytest

from churn_workbench import cli
from churn_workbench.boundary import paths
from churn_workbench.errors import UsageError


@pytest.fixture
def customers(tmp_path):
    path = tmp_path / "in" / "customers.csv"
    path.parent.mkdir()
    path.write_text("customer_id,churned,x\nC1,1,2\nC2,0,3\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix,why", [("/", "ends in '/'"), (" ", "space at its start or end")], ids=["slash", "space"])
def test_an_input_file_in_a_form_that_is_not_its_name_is_refused(tmp_path, customers, capsys, suffix, why):
    code = cli.main(["--customers", f"{customers}{suffix}", "--stages", "ingest", "--db", str(tmp_path / "data" / "wb.duckdb")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--customers" in err and why in err, err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value", [" /tmp/x/wb.duckdb", "/tmp/x/wb.duckdb ", "/tmp/x/wb.duckdb\u00a0", "\u3000/tmp/x.duckdb"],
                         ids=["leading", "trailing", "nbsp", "ideographic"])
def test_a_path_with_white_space_at_an_end_is_refused_everywhere(value):
    for check in (paths.user_path, paths.written_file, paths.input_file):
        with pytest.raises(UsageError, match="space at its start or end"):
            check(value, "--x")


@pytest.mark.parametrize("folder", ["q?x", "a?"])
def test_a_database_path_with_a_question_mark_is_refused_before_anything_is_made(tmp_path, capsys, folder):
    db = tmp_path / folder / "wb.duckdb"
    assert cli.main(["--synthetic", "50", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot hold a '?'" in err
    assert list(tmp_path.iterdir()) == []


def test_the_database_path_forms_duckdb_takes_as_written_pass(tmp_path):
    for name in ("a#b", "a&b", "a=b", "a%3Fb", "a b"):
        assert paths.database_file(tmp_path / name / "wb.duckdb").name == "wb.duckdb"
