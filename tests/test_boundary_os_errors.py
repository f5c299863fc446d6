"""Errors of the operating system on a path the user gave (a name over 255 bytes, a file where a
folder is needed, a control character): one line naming the path and the reason, exit 2, and
nothing stored changed -- never a Python traceback."""
from __future__ import annotations

import pytest

import small_store
from churn_workbench import cli, db
from churn_workbench.boundary import paths
from churn_workbench.errors import UsageError

LONG = "d" * 300


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_a_db_folder_name_over_255_bytes_is_one_line_exit_2(tmp_path, workspace, capsys):
    assert cli.main(["--synthetic", "30", "--stages", "ingest", "--db", str(tmp_path / LONG / "wb.duckdb")]) == 2
    assert "File name too long" in _one_line(capsys)
    assert not any(LONG in p.name for p in tmp_path.rglob("*"))


def test_a_db_whose_parent_is_a_file_is_one_line_exit_2(tmp_path, workspace, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for argv in (["--synthetic", "30", "--stages", "ingest"], ["verify"], ["subject", "export", "--customer", "C1"]):
        assert cli.main([*argv, "--db", str(afile / "wb.duckdb")]) == 2
        assert "is a file, not a folder" in _one_line(capsys)
    assert afile.read_text() == "x"


@pytest.mark.parametrize("flag", ["--customers", "--data-config"])
def test_an_input_path_the_os_refuses_is_one_line_exit_2(tmp_path, workspace, flag, capsys):
    argv = ["--customers", str(tmp_path / "c.csv")] if flag == "--data-config" else []
    (tmp_path / "c.csv").write_text("customer_id\nC1\n")
    assert cli.main([*argv, flag, str(tmp_path / LONG / "x.csv"), "--stages", "ingest"]) == 2
    assert "File name too long" in _one_line(capsys)


def test_an_export_name_over_255_bytes_is_one_line_exit_2_and_nothing_is_recorded(workspace, tmp_path_factory, capsys):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    with db.session(s.db_path) as con:
        events = con.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    out = tmp_path_factory.mktemp("handover") / ("n" * 260 + ".json")
    assert cli.main(["subject", "export", "--customer", "C7302", "--out", str(out)]) == 2
    err = _one_line(capsys)
    assert "--out" in err and "File name too long" in err
    with db.session(s.db_path) as con:
        assert con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == events
    assert list(out.parent.iterdir()) == []


def test_creating_a_folder_below_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "f").write_text("x")
    for make in (paths.private_folder, paths.private_dir):
        with pytest.raises(UsageError, match="is a file, not a folder"):
            make(tmp_path / "f" / "sub")


def test_every_path_function_turns_an_os_error_into_a_usage_error(tmp_path):
    long = tmp_path / LONG
    for call in (lambda: paths.private_folder(long), lambda: paths.write_private(long, "x"),
                 lambda: paths.refuse_existing([long], False), lambda: paths.database_file(long / "wb.duckdb"),
                 lambda: paths.input_file(long, "--customers")):
        with pytest.raises(UsageError, match="File name too long"):
            call()


@pytest.mark.parametrize("given, code", [(True, 2), (False, 1)])
def test_an_os_error_escaping_a_command_is_one_line(monkeypatch, tmp_path, capsys, given, code):
    """The last line of defence: whatever a command did not check, an OSError naming a path is one
    line; exit 2 when the path is one given on the command line (or below it)."""
    named = tmp_path / "given" / "x.csv" if given else tmp_path / "elsewhere"

    def fails(argv):
        raise PermissionError(13, "Permission denied", str(named))

    monkeypatch.setattr(cli, "_compare", fails)
    assert cli.main(["compare", "--db", str(tmp_path / "given")]) == code
    assert "Permission denied" in _one_line(capsys)
