"""Files holding personal data are the owner's only: the database (0600, its new folders 0700)
and the dashboard snapshot (folders 0700, files 0600), whatever the umask; the dashboard, run as
the same user, still reads the snapshot."""
from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from churn_workbench import db
from churn_workbench.dashboard import publish
from churn_workbench.workspace import Workspace


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_database_and_the_folders_created_for_it_are_private(tmp_path, loose_umask):
    path = tmp_path / "new" / "deeper" / "wb.duckdb"
    with db.session(path) as con:
        con.execute("CREATE TABLE t AS SELECT 'Ann' AS name")
    assert _mode(path) == 0o600
    assert _mode(tmp_path / "new") == 0o700 and _mode(tmp_path / "new" / "deeper") == 0o700


def test_a_database_created_readable_by_others_is_made_private_when_opened_for_writing(tmp_path, loose_umask):
    path = tmp_path / "wb.duckdb"
    with db.session(path):
        pass
    os.chmod(path, 0o644)
    with db.session(path):
        pass
    assert _mode(path) == 0o600


def test_the_snapshot_is_private_and_still_readable_by_its_owner(tmp_path, loose_umask):
    path = tmp_path / "wb.duckdb"
    with db.session(path):
        pass
    ws = Workspace.open(path)
    generation = publish.publish(ws)
    snapshot_dir = generation.parent
    assert _mode(snapshot_dir) == 0o700 and _mode(generation) == 0o700
    files = [f for f in generation.rglob("*") if f.is_file()]
    assert files and all(_mode(f) == 0o600 for f in files), {f.name: oct(_mode(f)) for f in files}
    assert publish.current_generation(snapshot_dir) == generation
    parquet = [f for f in files if f.suffix == ".parquet"]
    assert parquet and all(isinstance(pd.read_parquet(f), pd.DataFrame) for f in parquet)


def test_the_workspace_lock_creates_the_database_folder_private(tmp_path, loose_umask):
    from churn_workbench.config import load_settings
    ws = Workspace(load_settings(db_path=str(tmp_path / "ws" / "wb.duckdb")))
    with ws.lock():
        pass
    assert _mode(tmp_path / "ws") == 0o700
