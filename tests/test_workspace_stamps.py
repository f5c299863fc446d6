"""A workspace's folders belong to one database: stamped with its identity on first use, and a
command whose configured folders carry another database's stamp (or that names another folder
than the one its database keeps inside its workspace) is refused in one line, exit 2, before it
writes anything. A workspace copied or moved as a whole still owns its folders."""
from __future__ import annotations

import os
import shutil

import pytest

from churn_workbench import cli, ownership
from churn_workbench.errors import UsageError
from churn_workbench.workspace import Workspace

from cli_commands import commands_with_db


@pytest.fixture()
def env(tmp_path, monkeypatch):
    for name in ("WORKBENCH_DATA_DIR", "WORKBENCH_AUDIT_DIR", "WORKBENCH_DB", "WORKBENCH_SUBJECT_KEY_FILE",
                 "WORKBENCH_SUBJECT_KEYSTORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(tmp_path / "keys" / "k.pem"))
    monkeypatch.setenv("WORKBENCH_HEADS_FILE", str(tmp_path / "heads" / "h.jsonl"))
    return monkeypatch


def _used(path) -> Workspace:
    """A database that has been used once: created, its folders stamped (as a run or a subject
    command does under the workspace lock)."""
    ws = Workspace.open(path)
    with ws.lock():
        ws.identity()
        ws.stamp()
    return ws


def _listing(folder):
    return sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []


def test_first_use_stamps_every_owned_folder_with_the_database_identity(tmp_path, env):
    ws = _used(tmp_path / "a" / "wb.duckdb")
    identity = ws.identity()
    for role, folder in ownership.owned(ws).items():
        assert (folder / ownership.STAMP).is_file(), role
        assert identity in (folder / ownership.STAMP).read_text()
    ws.check_owner()  # its own folders


def test_an_audit_folder_of_another_database_is_refused_before_anything_is_written(tmp_path, env):
    a = _used(tmp_path / "a" / "wb.duckdb")
    env.setenv("WORKBENCH_AUDIT_DIR", str(a.audit_dir))
    b = Workspace.open(tmp_path / "b" / "wb.duckdb")
    before = _listing(tmp_path)
    with pytest.raises(UsageError) as refused:
        with b.lock():
            pass
    line = str(refused.value)
    assert str(a.audit_dir) in line and "WORKBENCH_AUDIT_DIR" in line and str(a.db_path) in line
    assert "\n" not in line
    assert _listing(tmp_path) == before  # no lock file, no database, no folder


def test_a_data_folder_setting_other_than_the_databases_own_is_refused(tmp_path, env):
    a = _used(tmp_path / "a" / "wb.duckdb")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env.setenv("WORKBENCH_DATA_DIR", str(elsewhere))
    moved = Workspace.open(a.db_path)
    with pytest.raises(UsageError, match="WORKBENCH_DATA_DIR.*another data folder"):
        moved.check_owner()
    with pytest.raises(UsageError, match="WORKBENCH_DATA_DIR"):
        with moved.lock():
            pass
    assert _listing(elsewhere) == []  # no second subject key, no key store


@pytest.mark.parametrize("argv", commands_with_db(with_dashboard=False),
                         ids=[" ".join(a) for a in commands_with_db(with_dashboard=False)])
def test_every_command_refuses_folders_of_another_database(tmp_path, env, argv, capsys):
    a = _used(tmp_path / "a" / "wb.duckdb")
    env.setenv("WORKBENCH_AUDIT_DIR", str(a.audit_dir))
    before = _listing(tmp_path)
    rc = cli.main(argv + ["--db", str(tmp_path / "b" / "wb.duckdb")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "belongs to the database" in err
    assert _listing(tmp_path) == before


def test_a_workspace_copied_as_a_whole_still_owns_its_folders(tmp_path, env):
    a = _used(tmp_path / "a" / "wb.duckdb")
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    copy = Workspace.open(tmp_path / "copy" / "wb.duckdb")
    copy.check_owner()
    with copy.lock():
        pass
    assert str(copy.db_path) in (copy.audit_dir / ownership.STAMP).read_text()  # re-stamped where it lives now
    a.check_owner()


def test_a_database_replaced_at_the_same_path_does_not_inherit_the_folders(tmp_path, env):
    a = _used(tmp_path / "a" / "wb.duckdb")
    b = _used(tmp_path / "b" / "wb.duckdb")
    shutil.copyfile(b.db_path, a.db_path)  # another database's file put in its place
    os.remove(ownership.record_path(a))
    with pytest.raises(UsageError, match="an earlier database at"):
        Workspace.open(a.db_path).check_owner()


def test_a_database_removed_leaves_its_folders_to_the_next_one_at_its_path(tmp_path, env):
    a = _used(tmp_path / "a" / "wb.duckdb")
    old = a.identity()
    os.remove(a.db_path)
    fresh = _used(a.db_path)  # e.g. `make clean` then a new run
    assert fresh.identity() != old and fresh.identity() in (fresh.audit_dir / ownership.STAMP).read_text()


def test_fresh_folders_are_accepted_and_stamped_by_their_first_use(tmp_path, env):
    env.setenv("WORKBENCH_AUDIT_DIR", str(tmp_path / "trail" / "audit"))
    ws = _used(tmp_path / "a" / "wb.duckdb")
    assert (tmp_path / "trail" / "audit" / ownership.STAMP).is_file()
    ws.check_owner()
