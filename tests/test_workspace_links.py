"""A workspace writes only inside itself: a folder of it (audit/, audit/runs/, models/, snapshot/,
exports/) planted as a symbolic link to somewhere else is refused in one line, naming the link,
before a run or a subject command writes anything -- also when the link sits above the folder."""
from __future__ import annotations

import os

import pytest

import small_store
from churn_workbench import cli
from churn_workbench.errors import UsageError
from churn_workbench.workspace import Workspace

# (folder that becomes a link, folders to create as real ones first)
LINKED = [("audit", []), ("audit/runs", ["audit"]), ("models", []), ("snapshot", []), ("exports", [])]


def _plant(root, name, parents, outside):
    for parent in parents:
        (root / parent).mkdir(parents=True, exist_ok=True)
    target = outside / name.replace("/", "-")
    target.mkdir(parents=True)
    os.symlink(target, root / name)
    return target


@pytest.mark.parametrize("name,parents", LINKED, ids=[n for n, _ in LINKED])
def test_a_linked_folder_is_refused_before_the_lock_is_taken(tmp_path, name, parents):
    root, outside = tmp_path / "ws", tmp_path / "outside"
    root.mkdir()
    target = _plant(root, name, parents, outside)
    ws = Workspace.open(root / "wb.duckdb")
    with pytest.raises(UsageError) as err:
        with ws.lock():
            pass
    message = str(err.value)
    assert "\n" not in message and str(root / name) in message and "symbolic link" in message
    assert list(target.iterdir()) == []
    assert not (root / "wb.duckdb.lock").exists(), "refused before anything was written"


@pytest.mark.parametrize("name,parents", LINKED, ids=[n for n, _ in LINKED])
def test_a_run_on_a_workspace_with_a_linked_folder_exits_2_and_writes_nothing(tmp_path, name, parents, capsys):
    root, outside = tmp_path / "ws", tmp_path / "outside"
    root.mkdir()
    target = _plant(root, name, parents, outside)
    assert cli.main(["--synthetic", "60", "--stages", "ingest", "--db", str(root / "wb.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and str(root / name) in err
    assert list(target.iterdir()) == []
    assert not (root / "wb.duckdb").exists()


@pytest.mark.parametrize("command", [["forget", "--yes"], ["export"]])
def test_subject_commands_refuse_a_linked_snapshot_folder(workspace, tmp_path, command, capsys, monkeypatch):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    outside = tmp_path / "outside"
    target = _plant(workspace.data_dir, "snapshot", [], outside)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    assert cli.main(["subject", command[0], "--customer", "C7302", *command[1:]]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert list(target.iterdir()) == []


def test_the_workspace_folder_itself_may_be_reached_through_a_link(tmp_path):
    """Only links below the database's folder are refused: the folder may sit behind one."""
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    ws = Workspace.open(tmp_path / "alias" / "wb.duckdb")
    with ws.lock():
        pass
    assert (real / "wb.duckdb.lock").exists()
