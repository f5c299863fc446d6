"""Where access exports go when no `--out` is given: a private folder inside the workspace.

`<data dir>/exports/` (mode 0700, files 0600, git- and docker-ignored), never the current
directory, where a personal-data file would sit in whatever folder the command ran from (a
checkout: `git status` shows it). Erasure removes every file there, in any folder below it too
(`--out` may name one), whose content names the customer, whatever the file is called; copies
written elsewhere with `--out` are outside the workbench's reach.
"""
from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..workspace import Workspace
from .traces import Traces, files_naming


def folder(settings: Settings) -> Path:
    return Workspace(settings).exports_dir


def of_customer(settings: Settings, found_by: Traces) -> list[Path]:
    """Every file in the exports folder or any folder below it whose CONTENT names the customer
    (traces.py: their id in any of its forms, their pseudonymous reference, the personal values
    an export writes), whatever the file is called: a report kept after its JSON twin was
    deleted, renamed, or copied into a sub-folder still goes with the person."""
    return files_naming(folder(settings), found_by)


def remove(paths: list[Path]) -> int:
    for path in paths:
        path.unlink(missing_ok=True)
    return len(paths)
