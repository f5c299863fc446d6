"""Files holding personal data are the owner's only: the database (0600, its new folders 0700)
and the dashboard snapshot (folders 0700, files 0600), whatever the umask; the dashboard, run as
the same user, still reads the snapshot. Beyond a list of writers: whatever a process writes
once it has opened a workspace is private, and a whole pipeline run under a loose umask leaves
nothing another user can read."""
from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
from workspaces import TYPICAL_UMASK

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


def test_whatever_a_process_writes_after_opening_a_workspace_is_private(tmp_path, loose_umask):
    Workspace.open(tmp_path / "wb.duckdb")
    (tmp_path / "written-by-any-code.txt").write_text("Ann Smith")  # a writer that knows nothing of privacy
    (tmp_path / "any-folder").mkdir()
    assert _mode(tmp_path / "written-by-any-code.txt") == 0o600
    assert _mode(tmp_path / "any-folder") == 0o700


def test_a_stricter_umask_than_the_workspaces_is_kept(tmp_path):
    old = os.umask(0o277)
    try:
        Workspace.open(tmp_path / "wb.duckdb")
        assert os.umask(0o277) == 0o277
    finally:
        os.umask(old)


@pytest.mark.slow
def test_a_pipeline_run_under_a_loose_umask_leaves_nothing_readable_by_others(built_local):
    assert TYPICAL_UMASK & 0o077 != 0o077  # the build really ran under a loose umask
    ws = built_local.restore()
    # data/ itself is made by the test's layout (in a checkout it is the project's folder); all
    # below it, and every other folder and file, is the product's.
    written = [p for top in (ws.data_dir, ws.audit_dir, ws.heads.parent, ws.signing_key.parent)
               for p in [top, *top.rglob("*")] if p != ws.data_dir]
    assert any(p.suffix == ".ipynb" for p in written) and any(p.name == "manifest.json" for p in written)
    readable = {str(p.relative_to(ws.root)): oct(_mode(p)) for p in written if _mode(p) & 0o077}
    assert not readable, readable
