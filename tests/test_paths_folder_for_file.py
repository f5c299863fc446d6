"""A path written as a folder (ending in '/') where a file is meant -- the database, the signing
key, the heads file, the subject key and key store -- is refused in the one helper every one of
them goes through (boundary.paths.written_file), naming its option or setting, before anything
is created: taken as a file it would create a file named like the folder the user meant. A
non-UTF-8 path is refused as that, not as a control character."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from churn_workbench import cli, config
from churn_workbench.boundary import paths
from churn_workbench.errors import UsageError
from churn_workbench.stages.params import PredictParams

# Every setting that names a file the workbench writes: the path settings that are not folders.
FILE_SETTINGS = [f.metadata["env"] for f in config.knobs()
                 if str(f.type).startswith("Path") and f.name not in config.FOLDER_SETTINGS]


def test_the_file_settings_are_found():
    assert {"WORKBENCH_DB", "WORKBENCH_SIGNING_KEY_FILE", "WORKBENCH_HEADS_FILE", "WORKBENCH_SUBJECT_KEY_FILE",
            "WORKBENCH_SUBJECT_KEYSTORE"} == set(FILE_SETTINGS)


def _nothing_made(root: Path) -> None:
    assert not (root / "data").exists() and list(root.iterdir()) == []


@pytest.mark.parametrize("name", FILE_SETTINGS)
def test_a_file_setting_written_as_a_folder_is_refused_naming_it(workspace, monkeypatch, tmp_path_factory, name):
    tmp_path = tmp_path_factory.mktemp("given")
    monkeypatch.setenv(name, str(tmp_path / "data") + "/")
    with pytest.raises(UsageError) as refused:
        config.load_settings()
    line = str(refused.value)
    assert "\n" not in line and "names a folder where a file is meant" in line
    assert name in line
    _nothing_made(tmp_path)


@pytest.mark.parametrize("name", FILE_SETTINGS)
def test_a_file_setting_naming_an_existing_folder_is_refused_naming_it(workspace, monkeypatch, tmp_path_factory, name):
    tmp_path = tmp_path_factory.mktemp("given")
    (tmp_path / "data").mkdir()
    monkeypatch.setenv(name, str(tmp_path / "data"))
    with pytest.raises(UsageError, match=name + r".*(folder)") as refused:
        config.load_settings()
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("argv", [["--stages", "ingest", "--synthetic", "20"], ["verify"], ["compare"],
                                  ["subject", "purge", "--dry-run"]], ids=" ".join)
def test_every_db_option_written_as_a_folder_is_refused(workspace, tmp_path_factory, argv, capsys):
    where = tmp_path_factory.mktemp("ws")
    assert cli.main([*argv, "--db", f"{where}/data/"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--db" in err and "names a folder where a file is meant" in err
    assert list(where.iterdir()) == []


def test_a_notebook_db_parameter_written_as_a_folder_is_refused(tmp_path):
    with pytest.raises(UsageError, match="parameter db_path .*names a folder"):
        PredictParams(db_path=f"{tmp_path}/data/").check()
    assert list(tmp_path.iterdir()) == []


def test_the_helper_refuses_every_separator_and_keeps_plain_names(tmp_path):
    for sep in {os.sep, os.altsep} - {None}:
        with pytest.raises(UsageError, match="--x"):
            paths.written_file(f"{tmp_path}/a{sep}", "--x")
    assert paths.written_file(f"{tmp_path}/a", "--x") == tmp_path / "a"


def test_a_path_that_is_not_utf8_is_named_so_not_a_control_character(tmp_path):
    name = os.fsdecode(b"x\xffy.csv")
    for check in (paths.user_path, paths.written_file):
        with pytest.raises(UsageError, match=r"not valid UTF-8 \(byte 0xff") as refused:
            check(str(tmp_path / name), "--customers")
        assert "control character" not in str(refused.value)
