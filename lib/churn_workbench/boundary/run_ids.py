"""Run ids: one strict pattern, checked wherever a run id enters (flags, notebook parameters).

A run id names a folder (`<audit dir>/runs/<run id>/`, `models/<run id>/`), is written into
printed resume commands and summary lines, and keys rows in every table. So it is a plain token:
letters, digits, `.`, `_`, `-`; starting with a letter or digit (never `.` or `..`), at most 64
characters; no separator, no white space, no newline. The ids the workbench makes itself
(`20250101T080000Z-1a2b3c`, `interactive-...`, `subject-erasure-...`) all fit it.
"""
from __future__ import annotations

import re

from ..errors import UsageError

MAX_LENGTH = 64
PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,%d}" % (MAX_LENGTH - 1))
RULE = f"1-{MAX_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_run_id(value, what: str = "--run-id") -> str:
    """`value` if it is a valid run id; UsageError naming `what` (the flag or parameter) otherwise."""
    if not isinstance(value, str):
        raise UsageError(f"{what}: a run id must be text, got {type(value).__name__}")
    if PATTERN.fullmatch(value) is None:
        raise UsageError(f"{what} {value!r}: not a valid run id ({RULE})")
    return value
