"""Where access exports go when no `--out` is given: a private folder inside the workspace.

`<data dir>/exports/` (mode 0700, files 0600, git- and docker-ignored), never the current
directory, where a personal-data file would sit in whatever folder the command ran from (a
checkout: `git status` shows it). Erasure removes the customer's exports found there, in any
folder below it too (`--out` may name one); copies written elsewhere with `--out` are outside
the workbench's reach.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import Settings
from ..workspace import Workspace


def folder(settings: Settings) -> Path:
    return Workspace(settings).exports_dir


def of_customer(settings: Settings, customer_id: str) -> list[Path]:
    """The customer's exports in the workspace folder or any folder below it: each JSON file
    naming them, and its report. (An export may be written into a sub-folder with `--out`; a
    search of the top folder only would report it gone while it stays.)"""
    found: list[Path] = []
    base = folder(settings)
    if not base.is_dir():
        return found
    for path in sorted(base.rglob("*.json")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            owner = json.loads(path.read_text(encoding="utf-8")).get("customer_id")
        except (OSError, ValueError, AttributeError):
            continue
        if owner == customer_id:
            found.append(path)
            if path.with_suffix(".md").is_file():
                found.append(path.with_suffix(".md"))
    return found


def remove(paths: list[Path]) -> int:
    for path in paths:
        path.unlink(missing_ok=True)
    return len(paths)
