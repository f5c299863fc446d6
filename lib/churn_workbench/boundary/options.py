"""Command-line option values: empty ones, and options given more than once.

An option given an empty value (`--db "$DB"` with DB unset, `--out ''`) is refused, never read
as "not given": that would silently mean its default (another database, folder or file). An
option that holds one value and is given twice is refused too: argparse would keep the last and
never look at the first (`--run-id ../x --run-id ok-1`). Every parser of the workbench applies
both rules where it reads a value (cli_parser.Parser).
"""
from __future__ import annotations

import argparse

from ..errors import UsageError

# argparse's actions that are made to be given many times; every other one holds one value.
_REPEATABLE = (argparse._AppendAction, argparse._AppendConstAction, argparse._CountAction,
               argparse._ExtendAction, argparse._HelpAction, argparse._VersionAction)


def refuse_empty(flag: str, value, required: bool = False) -> None:
    """UsageError (one line naming `flag`) when `value` is a blank string."""
    if isinstance(value, str) and not value.strip():
        raise UsageError(f"empty {flag}: give a value" + ("" if required else f", or leave out {flag} for its default"))


def repeatable(action: argparse.Action) -> bool:
    """Whether `action` is made to be given more than once (append, extend, count)."""
    return isinstance(action, _REPEATABLE)


def refuse_repeated(flag: str, given: list[str], action: argparse.Action) -> None:
    """UsageError naming `flag` and its values when an option of one value was given again;
    `given` holds the raw words of each time it was given so far (empty for a flag)."""
    if len(given) < 2 or repeatable(action):
        return
    values = [repr(v) if not v.strip() or v != v.strip() or "," in v else v for v in given]
    shown = f" ({', '.join(values)})" if any(given) else ""
    raise UsageError(f"{flag} given twice{shown}: give it once")
