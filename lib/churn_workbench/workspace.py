"""A workspace: one database and everything the workbench keeps for it.

The database file, its pipeline lock, short sessions on it, the audit folder (executed notebooks
and manifests), models, the dashboard snapshot and the subject keys all belong to one workspace,
and everything that needs one of them asks the workspace for it -- nothing reaches into the
runner for a path or a lock.

A workspace is portable: what it records about its own files (manifests, `stage_runs`,
`model_registry`) is a path relative to its root, and the database carries its identity (an id
created with it), which signed heads name instead of a path. A workspace copied, archived,
restored or handed to an auditor therefore verifies against its own files, wherever it lives.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from . import db, ownership
from .boundary import paths
from .config import Settings, load_settings
from .errors import PipelineBusy

IDENTITY_TABLE = "workspace_identity"
EXPORTS_FOLDER = "exports"
OUTCOMES_FOLDER = "outcomes"
PROGRESS_FOLDER = ".progress"
# Workspace locks this process holds (lock file -> depth), so a nested `lock()` does not wait on itself.
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()
# Lock files of workspaces whose database did not exist when this process took the lock.
_CREATED: set[str] = set()


@dataclass(frozen=True)
class Workspace:
    """The folder of one database. Built from `Settings` (`Workspace.open()` loads them)."""

    settings: Settings
    # What runs after the store changed: callables (workspace, drop_old) -> result. The workspace
    # knows no consumer of its data; whoever composes the application installs them.
    on_change: tuple[Callable[["Workspace", bool], object], ...] = ()

    def __post_init__(self) -> None:
        # A workspace holds personal data: whatever a process that opens one writes is private.
        paths.private_by_default()

    @classmethod
    def open(cls, db_path: str | Path | None = None, **overrides) -> "Workspace":
        """The workspace of `db_path` (default: the configured database) with settings loaded
        from the environment, `.env` and `overrides`, and no change hooks."""
        return cls(load_settings(db_path=str(db_path) if db_path else None, **overrides))

    # --- where things live ---------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return Path(self.settings.db_path)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def audit_dir(self) -> Path:
        return Path(self.settings.audit_dir)

    @property
    def root(self) -> Path:
        """The folder that holds the database and the audit folder: what relative paths start from.
        For a database elsewhere it is the database's folder; for the project's default workspace
        (data/ and audit/ side by side) it is the project root."""
        return Path(os.path.commonpath([self.data_dir, self.audit_dir]))

    @property
    def runs_dir(self) -> Path:
        return self.audit_dir / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    @property
    def models_dir(self) -> Path:
        return self.db_path.parent / "models"

    def model_dir(self, run_id: str) -> Path:
        return self.models_dir / run_id

    @property
    def snapshot_dir(self) -> Path:
        """Where the dashboard's read-only copy is published."""
        return snapshot_dir_of(self.db_path)

    @property
    def exports_dir(self) -> Path:
        """Where access exports go when no `--out` is given (erasure sweeps it)."""
        return self.data_dir / EXPORTS_FOLDER

    @property
    def outcomes_dir(self) -> Path:
        """Where `--simulate-outcomes` writes the outcomes it draws."""
        return self.data_dir / OUTCOMES_FOLDER

    @property
    def progress_dir(self) -> Path:
        """Where the stages report their live progress to the runner."""
        return progress_dir_of(self.db_path)

    @property
    def keys_dir(self) -> Path:
        """The folder of the subject key (and, by default, of the subject key store)."""
        return Path(self.settings.subject_key_file).parent

    @property
    def keystore_dir(self) -> Path:
        return Path(self.settings.subject_keystore).parent

    def folders(self) -> dict[str, Path]:
        """Every folder the workbench writes to for this workspace, by what it holds. Whatever
        writes there obtains the folder through `folder()`, and `prove_folders()` proves them all,
        so a folder added here is proven wherever it is written."""
        return {"data": self.data_dir, "audit": self.audit_dir, "runs": self.runs_dir, "models": self.models_dir,
                "snapshot": self.snapshot_dir, "exports": self.exports_dir, "outcomes": self.outcomes_dir,
                "progress": self.progress_dir, "keys": self.keys_dir, "key store": self.keystore_dir}

    def _anchor(self, folder: Path) -> Path:
        """What `folder` hangs off: the database's folder, else the data folder, else the parent
        of a folder set elsewhere on purpose (the audit folder, the key's folder). The anchor
        itself may be a link (a workspace kept on another disk); nothing below it may."""
        target = Path(os.path.abspath(folder))
        set_elsewhere = (Path(os.path.abspath(f)).parent for f in (self.audit_dir, self.keys_dir, self.keystore_dir))
        for anchor in (self.db_path.parent, Path(os.path.abspath(self.data_dir)), *set_elsewhere):
            if target.is_relative_to(anchor) or target.is_relative_to(anchor.resolve()):
                return anchor
        return target.parent

    def prove(self, folder: str | Path) -> Path:
        """`folder` proven inside the workspace: no symbolic link on the way down from what it
        hangs off (see `_anchor`). Raises UsageError naming the link; writes nothing."""
        return paths.no_link_below(self._anchor(Path(folder)), folder)

    def folder(self, folder: str | Path) -> Path:
        """The one way to a folder the workbench writes into: proven (`prove`), then created
        private (0700) if it does not exist. Returns it."""
        proven = self.prove(folder)
        return paths.private_folder(proven)

    def prove_folders(self) -> None:
        """Prove every folder of `folders()` inside the workspace (see `prove`). `lock()` calls
        it, so no writer starts while one of them is reached through a link."""
        for folder in self.folders().values():
            self.prove(folder)

    @property
    def lock_path(self) -> Path:
        return self.db_path.with_name(self.db_path.name + ".lock")

    # --- paths as recorded -----------------------------------------------------------------------
    def relative(self, path: str | Path) -> str:
        """How a file of this workspace is recorded: relative to the root (POSIX separators).
        A file outside the workspace keeps its absolute path."""
        path = Path(path).resolve()
        try:
            return path.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def resolve(self, recorded: str | Path) -> Path:
        """The file a recorded path names in this workspace (the inverse of `relative`)."""
        recorded = Path(recorded)
        return recorded if recorded.is_absolute() else self.root / recorded

    # --- the database ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self, wait_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short read-write connection with the schema in place; closed on exit."""
        with db.session(self.db_path, wait_s=wait_s) as con:
            yield con

    @contextlib.contextmanager
    def reading(self, wait_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short read-only connection (the database must exist)."""
        con = db.connect(self.db_path, read_only=True, wait_s=wait_s)
        try:
            yield con
        finally:
            con.close()

    def identity(self, wait_s: float = 30.0) -> str:
        """The workspace's id, created with its database; signed heads name it."""
        with self.session(wait_s) as con:
            return read_identity(con)

    def read_only_identity(self) -> str | None:
        """The id of an existing database, read without changing it."""
        with self.reading() as con:
            return read_identity(con)

    # --- one database per set of folders -------------------------------------------------------------
    def check_owner(self) -> None:
        """Refuse (UsageError) when a configured folder belongs to another database, or a setting
        moved a folder this database keeps inside its workspace (ownership.py). Writes nothing;
        every command that takes --db calls it before anything else, `lock()` too."""
        ownership.check(self)

    def stamp(self) -> None:
        """Stamp the workspace's folders with its database's identity (the database exists). A
        database created under this process's lock where none was takes over the folders a
        database removed from the same path left behind."""
        with _HELD_GUARD:
            taking_over = str(self.lock_path.resolve()) in _CREATED
        # Called under the workspace lock, so no other run or subject command of this workspace
        # holds the file: a DuckDB lock now is another program (a notebook, a DuckDB shell), and
        # its user is told at once instead of after a 30-second wait.
        ownership.stamp(self, self.identity(wait_s=0), taking_over)

    # --- one pipeline at a time ----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, wait: bool = False, holder: str = "", retry: str = "") -> Iterator[None]:
        """One writer (a pipeline run or a subject command) per workspace at a time: a second one
        waits (`wait`) or is refused clearly. The command line takes it before it opens the
        database at all, so a second run always meets this lock, never DuckDB's file lock. Taken
        again inside the same process, it is already held (nested use is a no-op). flock is
        released by the kernel when the process dies, so a killed run never leaves a stale lock.
        `holder`: what takes it ("a pipeline run", "a subject export"), named to whoever is refused.
        `retry`: how the caller can wait instead (its own flag or argument), for the refusal; a
        caller that cannot wait passes nothing and is told only to try again later."""
        key = str(self.lock_path.resolve())
        self.prove_folders()  # before the lock file or anything else is written
        self.check_owner()
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key] += 1
                nested = True
            else:
                nested = False
        if nested:
            try:
                yield
            finally:
                with _HELD_GUARD:
                    _HELD[key] -= 1
            return
        with self._flock(wait, holder, retry):
            with _HELD_GUARD:
                _HELD[key] = 1
                if not self.db_path.exists():
                    _CREATED.add(key)
            try:
                if self.db_path.exists():  # a new database is stamped by the run that creates it
                    self.stamp()
                yield
            finally:
                with _HELD_GUARD:
                    _HELD.pop(key, None)
                    _CREATED.discard(key)

    @contextlib.contextmanager
    def _flock(self, wait: bool, holder: str, retry: str) -> Iterator[None]:
        paths.private_folder(self.db_path.parent)  # the database and personal data live below
        with open(self.lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.seek(0)
                current = fh.read().strip() or "another process"
                raise PipelineBusy(f"{self.db_path}: this database is in use by {current}; "
                                   + (f"wait for it to finish or {retry}" if retry else "try again when it has finished")
                                   ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"{holder or 'another command'} (pid {os.getpid()})")  # what the refused one is told
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- after a change -----------------------------------------------------------------------------
    def changed(self, echo: Callable[[str], None] = print, drop_old: bool = False) -> Path | None:
        """The store changed: run the change hooks (the dashboard snapshot is republished by the
        hook `wiring.open_workspace` installs). A failing hook is reported, never raised (the change
        itself stands). `drop_old`: older snapshot generations go at once (after an erasure they
        still show the person). Returns the last hook's result (the new snapshot), None on failure."""
        result = None
        for hook in self.on_change:
            try:
                result = hook(self, drop_old)
            except Exception as exc:  # noqa: BLE001 - reported, the change's own outcome stands
                echo(f"warning: the dashboard snapshot was not published: {type(exc).__name__}: {exc}")
                return None
        return result


def snapshot_dir_of(db_path: str | Path) -> Path:
    """The dashboard snapshot of a database: `<db dir>/snapshot`."""
    return Path(db_path).resolve().parent / "snapshot"


def progress_dir_of(db_path: str | Path) -> Path:
    """Where the stages of runs on a database report progress: `<db dir>/.progress`."""
    return Path(db_path).resolve().parent / PROGRESS_FOLDER


def progress_folder(db_path: str | Path) -> Path:
    """The progress folder of the workspace of `db_path`, proven and made (`Workspace.folder`)."""
    ws = Workspace.open(db_path)
    return ws.folder(ws.progress_dir)


def read_identity(con: duckdb.DuckDBPyConnection) -> str | None:
    """The workspace id of the database `con` is open on (created with it by `db.migrate`); None
    for a read-only connection on a database older than workspace ids."""
    if not db.table_exists(con, IDENTITY_TABLE):
        return None
    row = con.execute(f"SELECT id FROM {IDENTITY_TABLE} ORDER BY created_at LIMIT 1").fetchone()
    return row[0] if row else None
