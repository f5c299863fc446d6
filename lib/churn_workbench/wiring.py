"""The composition root: a workspace wired with what must follow a change to its store.

The workspace itself knows no consumer of its data (it sits below them all); the command line, the
Python API and the subject commands open their workspace here, so that every change they make is
followed by a fresh dashboard snapshot (after an erasure, one without the person).
"""
from __future__ import annotations

from pathlib import Path

from .config import Settings, load_settings
from .dashboard.publish import republish
from .workspace import Workspace


def open_workspace(settings: Settings | None = None, db_path: str | Path | None = None, **overrides) -> Workspace:
    """The workspace of `settings` (or of `db_path` and `overrides`, loaded from the environment),
    whose `changed()` republishes the dashboard snapshot."""
    if settings is None:
        settings = load_settings(db_path=str(db_path) if db_path else None, **overrides)
    return Workspace(settings, on_change=(republish,))
