"""A path given by the user is checked whole against the file system's limits (each name against
NAME_MAX of the nearest existing folder, the whole against PATH_MAX) before any folder of it is
made: exit 2, one line, and "nothing was changed" is true."""
from __future__ import annotations

import os

import pytest

from churn_workbench import cli
from churn_workbench.boundary import paths
from churn_workbench.config import load_settings
from churn_workbench.errors import UsageError


@pytest.fixture()
def env(tmp_path, monkeypatch):
    for name in ("WORKBENCH_DATA_DIR", "WORKBENCH_AUDIT_DIR", "WORKBENCH_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(tmp_path / "keys" / "k.pem"))
    monkeypatch.setenv("WORKBENCH_HEADS_FILE", str(tmp_path / "heads" / "h.jsonl"))
    return monkeypatch


def _name_max(folder) -> int:
    return os.pathconf(folder, "PC_NAME_MAX")


def _listing(root):
    return sorted(str(p) for p in root.rglob("*"))


@pytest.mark.parametrize("where", ["file", "folder below a new one"])
def test_a_db_with_a_name_too_long_under_a_new_folder_changes_nothing(tmp_path, env, where, capsys):
    long = "a" * (_name_max(tmp_path) + 1)
    db = tmp_path / "new" / (f"{long}.duckdb" if where == "file" else f"{long}/wb.duckdb")
    rc = cli.main(["--synthetic", "20", "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "nothing was changed" in err
    assert _listing(tmp_path) == []  # the new folder was not made


def test_the_database_name_leaves_room_for_the_files_beside_it(tmp_path):
    fits_alone = "a" * (_name_max(tmp_path) - len(".duckdb"))  # a legal name, but its lock file would not be
    with pytest.raises(UsageError, match="files kept beside it"):
        paths.database_file(tmp_path / f"{fits_alone}.duckdb")


def test_a_path_longer_than_path_max_is_refused(tmp_path):
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    deep = tmp_path.joinpath(*["d" * 200] * (path_max // 200 + 1))
    with pytest.raises(UsageError, match="longer than this file system allows"):
        paths.user_path(deep, "--out")
    assert _listing(tmp_path) == []


def test_a_folder_setting_too_long_is_refused_naming_it(tmp_path, env):
    env.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / ("b" * (_name_max(tmp_path) + 1))))
    with pytest.raises(UsageError, match="WORKBENCH_AUDIT_DIR"):
        load_settings(db_path=str(tmp_path / "ws" / "wb.duckdb"))


def test_ordinary_paths_pass(tmp_path):
    assert paths.database_file(tmp_path / "new" / "wb.duckdb") == tmp_path / "new" / "wb.duckdb"
