"""Which database a workspace folder belongs to: one database per set of folders.

The folders a setting can point anywhere (the data folder, the audit folder, the folders of the
subject key and key store) carry a stamp naming the database they belong to, by its identity
(`workspace.identity`, an id created with the database; not its path, so a workspace copied or
moved as a whole still owns its folders). Beside the database, `<db>.folders` records which
folders it uses; a folder inside the workspace is recorded relative to the database's folder.

Two contradictions are refused before a command writes anything (exit 2, one line naming the
folder, the setting and the database it belongs to):
- a configured folder stamped by another database (WORKBENCH_AUDIT_DIR of workspace A used for a
  run on database B: B's notebooks would land in A's audit trail, whose `verify` then fails);
- a setting naming another folder than the one the database recorded inside its workspace
  (WORKBENCH_DATA_DIR elsewhere: a second subject key would be created there, and an erasure
  would shred the pseudonym in the wrong key store).
Checking reads only these small files (no database connection), so it runs before anything,
also while a pipeline holds the database; the database is opened only where its folders
carry no record yet.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from .errors import UsageError


class Workspace(Protocol):
    """What ownership reads of a workspace (workspace.Workspace, which calls this module)."""

    @property
    def db_path(self) -> Path: ...

    @property
    def root(self) -> Path: ...

    def folders(self) -> dict[str, Path]: ...

    def folder(self, path: Path) -> Path: ...

    def read_only_identity(self) -> str | None: ...

STAMP = ".workbench-database"
RECORD_SUFFIX = ".folders"
# The setting that places each stamped folder (what a refusal tells the user to change).
SETTINGS = {"data": "WORKBENCH_DATA_DIR", "audit": "WORKBENCH_AUDIT_DIR",
            "keys": "WORKBENCH_SUBJECT_KEY_FILE", "key store": "WORKBENCH_SUBJECT_KEYSTORE"}


def owned(ws: Workspace) -> dict[str, Path]:
    """The folders of `ws` a setting can place: these are stamped."""
    every = ws.folders()
    return {role: Path(os.path.abspath(every[role])) for role in SETTINGS}


def record_path(ws: Workspace) -> Path:
    return ws.db_path.with_name(ws.db_path.name + RECORD_SUFFIX)


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _setting(role: str) -> str:
    return f"{SETTINGS[role]} (or its default from --db)"


def check(ws: Workspace, identity: str | None = None, taking_over: bool = False) -> None:
    """Refuse (UsageError) when a configured folder belongs to another database, or a setting
    moved a folder the database keeps inside its workspace. Writes nothing.
    `identity`: the database's id when the caller knows it; else read from the record beside
    the database, or from the database (if it exists and nothing records its folders yet).
    `taking_over`: the database was created under the current lock, where none was."""
    exists = ws.db_path.exists() and not taking_over
    # Without its database the record beside it is stale: a database removed from this path left
    # its folders behind, and the one created here takes them over (stamps naming this path).
    record = _read(record_path(ws)) if exists else None
    if identity is None and record:
        identity = record.get("id")
    folders = owned(ws)
    stamps = {role: _read(folder / STAMP) for role, folder in folders.items()}
    if not exists:
        stamps = {role: s for role, s in stamps.items() if s and s.get("database") != str(ws.db_path)}
    if identity is None and any(stamps.values()) and exists:
        identity = ws.read_only_identity()
    for role, stamp in stamps.items():
        if stamp and stamp.get("id") != identity:
            owner = stamp.get("database")
            owner = (f"an earlier database at {owner} (id {stamp.get('id')}), since replaced" if owner == str(ws.db_path)
                     else f"the database {owner}")
            raise UsageError(
                f"{folders[role]}: this {role} folder belongs to {owner}, not to {ws.db_path}; {_setting(role)} "
                "points there. A workspace's folders hold one database's files: unset the setting or give this "
                "database its own folder")
    if not record or record.get("id") != identity:
        return
    kept = record.get("folders") or {}
    for role in folders:  # in SETTINGS order: the data folder, which the others follow by default, first
        recorded = kept.get(role)
        if not isinstance(recorded, str) or Path(recorded).is_absolute():
            continue  # a folder kept outside the workspace may move on its own
        expected = Path(os.path.normpath(ws.db_path.parent / recorded))
        if expected != folders[role] and Path(os.path.realpath(expected)) != Path(os.path.realpath(folders[role])):
            raise UsageError(
                f"{folders[role]}: {_setting(role)} names another {role} folder than the database {ws.db_path} "
                f"uses ({expected}); unset the setting or point it there")


def stamp(ws: Workspace, identity: str, taking_over: bool = False) -> None:
    """Stamp every owned folder (made if missing, proven inside the workspace) with the database's
    identity, and record beside the database where its folders are. A folder already stamped by
    this database keeps its stamp. `taking_over`: see `check`."""
    check(ws, identity, taking_over)
    recorded = {}
    for role, folder in owned(ws).items():
        made = ws.folder(folder)
        mark = made / STAMP
        current = _read(mark)
        if not current or current != {"id": identity, "database": str(ws.db_path)}:
            _write(mark, {"id": identity, "database": str(ws.db_path)})
        recorded[role] = _relative(folder, ws)
    record = {"id": identity, "folders": recorded}
    if _read(record_path(ws)) != record:
        _write(record_path(ws), record)


def _relative(folder: Path, ws: Workspace) -> str:
    """A folder inside the workspace relative to the database's folder; anything else absolute."""
    root = Path(os.path.abspath(ws.root))
    if folder == root or folder.is_relative_to(root):
        return os.path.relpath(folder, ws.db_path.parent)
    return str(folder)


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # a reader sees the old stamp or the new one, never half
