"""Numbers from outside (settings, stage parameters, command-line counts) checked against a range.

Every number a user can set has bounds: a lower one where a smaller value means nothing (a batch of
0 items, a timeout of -1 s), and an upper one beyond any real use, so a typo (`99999999999`) is
refused here in one line instead of failing deep in a stage with an engine's overflow message.
Non-finite floats (nan, inf) are never a setting.
"""
from __future__ import annotations

import math

from ..errors import UsageError

# Beyond any count, budget or period the workbench uses, and within a C int (libraries below
# the workbench convert to one and overflow past it).
MAX_COUNT = 2**31 - 1


def check_range(label: str, value, lo: float | None = 0, hi: float | None = None) -> None:
    """`value` lies in [lo, hi] (None: unbounded on that side; ints get MAX_COUNT as their
    ceiling); else a one-line UsageError naming `label`, the value and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, int) and hi is None:
        hi = MAX_COUNT
    finite = isinstance(value, int) or math.isfinite(value)
    if finite and (lo is None or value >= lo) and (hi is None or value <= hi):
        return
    shown = lambda bound: str(bound) if isinstance(bound, int) else f"{bound:g}"
    if lo is not None and hi is not None:
        expected = f"from {shown(lo)} to {shown(hi)}"
    elif lo is not None:
        expected = f"at least {shown(lo)}"
    else:
        expected = f"at most {shown(hi)}"
    raise UsageError(f"{label}={value}: must be a number {expected}")
