"""Comma-separated lists of names from outside (`--stages`, `--action-segments`, `--allow-columns`).

Spaces around a name are dropped; an empty name (`High,,Low`, a trailing comma) is refused in one
line: it is a typo or a variable that expanded to nothing, and skipped silently it would change
what the list means.
"""
from __future__ import annotations

from ..errors import UsageError


def comma_names(value: str, label: str, what: str = "name", plural: str = "") -> list[str]:
    """The names in `value`, in order; [] for an empty value (callers decide what that means).
    A name given twice is refused: in a list of stages, columns or segments it is always a slip
    (a typo for another name, or a paste), and what it would mean is never clear. `plural` names
    what the list holds in the refusal (default: `what` + s)."""
    if not (value or "").strip():
        return []
    names = [part.strip() for part in value.split(",")]
    if not all(names):
        raise UsageError(f"{label}={value}: an empty {what}; expected {plural or what + 's'} separated by commas, without a comma "
                         "at either end or two in a row")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{label}={value}: {', '.join(twice)} given twice; expected each {what} once")
    return names
