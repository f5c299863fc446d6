"""Where access exports go when no `--out` is given: a private folder inside the workspace.

`<data dir>/exports/` (mode 0700, files 0600, git- and docker-ignored), never the current
directory, where a personal-data file would sit in whatever folder the command ran from (a
checkout: `git status` shows it). Every export written into it (or a folder below it, which
`--out` may name) is recorded with its subject and digest (registry.py), and erasure deletes the
customer's by that record. A file there the workbench did not write is never read: erasure names
it for the operator to remove or check. Copies written elsewhere with `--out` are outside the
workbench's reach.
"""
from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..workspace import Workspace


def folder(settings: Settings) -> Path:
    return Workspace(settings).exports_dir
