"""Numbers from outside (settings, stage parameters, command-line counts) checked against a range.

Every number a user can set has bounds: a lower one where a smaller value means nothing (a batch of
0 items, a timeout of -1 s), and an upper one beyond any real use, so a typo (`99999999999`) is
refused here in one line instead of failing deep in a stage with an engine's overflow message.
Non-finite floats (nan, inf) are never a setting.
"""
from __future__ import annotations

import argparse
import math
import re

from ..errors import UsageError

# The plain forms the README documents: ASCII digits, an optional sign, for a float a decimal
# point and an exponent. Python's int()/float() also take `1_0`, full-width `８` and Arabic-Indic
# `١٠`; for settings that drive deletion (retention periods) a value read in a way its writer
# did not mean is refused instead.
_INT = re.compile(r"[+-]?[0-9]+")
# nan and inf are read, for `check_range` to refuse them naming the range.
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)


# The same syntax, for readers that must tell a number the file meant from a stray text.
PLAIN_FLOAT = _FLOAT


# What each reader accepts, in the words every refusal uses (options, settings, files).
WHOLE_NUMBER = "a whole number in plain digits (0-9), e.g. 30"
NUMBER = "a number in plain digits (0-9, '.', an exponent), e.g. 0.1"


def plain_int(text: str) -> int:
    """`text` (spaces at its ends dropped) as an int, if written in ASCII digits; else ValueError."""
    if _INT.fullmatch(str(text).strip()) is None:
        raise ValueError(f"{text!r} is not {WHOLE_NUMBER}")
    return int(text)


def plain_float(text: str) -> float:
    """`text` as a float, if written in ASCII digits (`0.1`, `1e-1`); else ValueError."""
    if _FLOAT.fullmatch(str(text).strip()) is None:
        raise ValueError(f"{text!r} is not {NUMBER}")
    return float(text)


def _argparse_type(parse):
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


# For argparse's `type=`: the same rule for numbers on the command line.
INT_OPTION, FLOAT_OPTION = _argparse_type(plain_int), _argparse_type(plain_float)

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
