"""Every folder the workbench writes to for a workspace is obtained through `Workspace.folder`,
which proves it inside the workspace (no symbolic link on the way) before anything is made or
written. A link planted at each folder the workspace names (read from `Workspace.folders()`, not
a hand list) is refused, and nothing lands in the folder it points to."""
from __future__ import annotations

import os
import shutil

import pytest

from churn_workbench import progress
from churn_workbench.errors import UsageError
from churn_workbench.llm import progress as llm_progress
from churn_workbench.workspace import Workspace

LAYOUTS = {
    "default": {},  # data, audit and keys in the database's folder
    "data below": {"WORKBENCH_DATA_DIR": "ws/data", "WORKBENCH_AUDIT_DIR": "ws/data/audit"},
    "audit elsewhere": {"WORKBENCH_AUDIT_DIR": "trail/audit"},
}


def _open(tmp_path, monkeypatch, layout: dict) -> Workspace:
    monkeypatch.delenv("WORKBENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("WORKBENCH_AUDIT_DIR", raising=False)
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(tmp_path / "keys" / "k.pem"))
    monkeypatch.setenv("WORKBENCH_HEADS_FILE", str(tmp_path / "heads" / "h.jsonl"))
    for name, value in layout.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    (tmp_path / "ws").mkdir()
    return Workspace.open(tmp_path / "ws" / "wb.duckdb")


def _anchors(ws: Workspace) -> set[str]:
    """Folders a workspace hangs off: the user chose them, they may be links themselves."""
    return {os.path.abspath(ws._anchor(f)) for f in ws.folders().values()}


@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_a_link_at_any_workspace_folder_is_refused_before_anything_is_written(tmp_path, monkeypatch, layout):
    ws = _open(tmp_path, monkeypatch, LAYOUTS[layout])
    planted = 0
    seen = set()
    for name, folder in ws.folders().items():
        folder = os.path.abspath(folder)
        if folder in _anchors(ws) or folder in seen:
            continue
        seen.add(folder)
        shutil.rmtree(folder, ignore_errors=True)  # made as a parent of a folder planted before
        outside = tmp_path / f"outside-{name.replace(' ', '_')}"
        outside.mkdir()
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        os.symlink(outside, folder)
        for attempt in (ws.prove_folders, lambda: ws.folder(folder)):
            with pytest.raises(UsageError, match="symbolic link"):
                attempt()
        with pytest.raises(UsageError, match="symbolic link"):
            with ws.lock():
                pass
        assert not ws.lock_path.exists(), f"{name}: the lock file was written before the link was refused"
        assert list(outside.iterdir()) == [], f"{name}: something landed outside the workspace"
        os.unlink(folder)
        planted += 1
    assert planted >= 6  # runs, models, snapshot, exports, outcomes, progress at least


def test_folder_makes_a_private_folder_inside(tmp_path, monkeypatch):
    ws = _open(tmp_path, monkeypatch, {})
    for folder in ws.folders().values():
        made = ws.folder(folder)
        assert made.is_dir() and made.resolve().is_relative_to(ws.root.resolve())


def test_progress_never_written_through_a_link(tmp_path, monkeypatch):
    ws = _open(tmp_path, monkeypatch, {})
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, ws.progress_dir)
    progress.file_sink(ws.db_path, "r1")({"event": "start"})
    llm_progress.Reporter(ws.db_path, "r1", "feedback").start("analyse", 3, "local", "m")
    assert list(outside.iterdir()) == []


def test_progress_written_in_a_plain_folder(tmp_path, monkeypatch):
    ws = _open(tmp_path, monkeypatch, {})
    progress.file_sink(ws.db_path, "r1")({"event": "start"})
    assert llm_progress.path(ws.db_path, "r1").is_file()
