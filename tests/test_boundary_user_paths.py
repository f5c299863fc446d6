"""Paths the user gives: a control character (a line break, a tab) in any of them is refused in
one line; an input must be a regular file (a pipe or /dev/stdin is named as not one, not as
missing); a data config saved with a UTF-8 byte-order mark (Windows Notepad) is read."""
from __future__ import annotations

import os

import pytest

import small_store
from churn_workbench import cli
from churn_workbench.boundary import paths
from churn_workbench.errors import UsageError
from churn_workbench.inputs.dataconfig import load_data_config


@pytest.mark.parametrize("name", ["nl\nname.json", "tab\tname.json", "cr\rname.json", "esc\x1bname.json"], ids=repr)
def test_an_export_name_with_a_control_character_is_refused(workspace, tmp_path_factory, name, capsys):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    out = tmp_path_factory.mktemp("handover")
    assert cli.main(["subject", "export", "--customer", "C7302", "--out", str(out / name)]) == 2
    err = capsys.readouterr().err
    assert "control character" in err and err.count("\n") == 1
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("argv", [["--customers"], ["--db"], ["--data-config"], ["verify", "--heads"], ["--outcomes"]])
def test_a_path_with_a_control_character_is_refused(workspace, tmp_path, argv, capsys):
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id\nC1\n")
    extra = ["--customers", str(customers), "--stages", "ingest"] if argv == ["--data-config"] else []
    assert cli.main([*argv, str(tmp_path / "a\nb.csv"), *extra]) == 2
    assert "control character" in capsys.readouterr().err


def test_a_named_pipe_is_not_a_regular_file(tmp_path, workspace, capsys):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    assert cli.main(["--customers", str(fifo), "--stages", "ingest"]) == 2
    err = capsys.readouterr().err
    assert "is not a regular file" in err and "does not exist" not in err


def test_a_device_is_not_a_regular_file():
    with pytest.raises(UsageError, match="is not a regular file"):
        paths.input_file("/dev/null", "--customers")


def test_a_data_config_with_a_byte_order_mark_and_crlf_is_read(tmp_path):
    config = tmp_path / "bom.toml"
    config.write_bytes(b"\xef\xbb\xbfid_column = \"cust_no\"\r\nlabel_column = \"left\"\r\n")
    loaded = load_data_config(config)
    assert loaded.id_column == "cust_no" and loaded.label_column == "left"
