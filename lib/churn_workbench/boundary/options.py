"""Command-line option values that are empty.

An option given an empty value (`--db "$DB"` with DB unset, `--out ''`) is refused, never read
as "not given": that would silently mean its default (another database, folder or file). Every
parser of the workbench applies this rule where it reads a value.
"""
from __future__ import annotations

from ..errors import UsageError


def refuse_empty(flag: str, value, required: bool = False) -> None:
    """UsageError (one line naming `flag`) when `value` is a blank string."""
    if isinstance(value, str) and not value.strip():
        raise UsageError(f"empty {flag}: give a value" + ("" if required else f", or leave out {flag} for its default"))
