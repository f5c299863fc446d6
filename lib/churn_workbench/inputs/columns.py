"""Finding columns by name and naming rows in messages (1-based, header not counted)."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

SHOW_ROWS = 5

def describe_rows(positions: np.ndarray | Sequence[int], total: int | None = None) -> str:
    """'rows 3, 8, 15 (first 5 of 42)' from 0-based positions."""
    positions = np.asarray(positions)
    total = len(positions) if total is None else total
    shown = ", ".join(str(int(p) + 1) for p in positions[:SHOW_ROWS])
    word = "row" if total == 1 else "rows"
    more = f" (first {SHOW_ROWS} of {total})" if total > SHOW_ROWS else ""
    return f"{word} {shown}{more}"


def describe_columns(columns) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(repr(n[:40]) for n in names[:20])
    return shown + (f" ... ({len(names)} columns)" if len(names) > 20 else "")


def normalise_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def resolve_column(columns: Sequence[str], wanted: str) -> str | None:
    """The column called `wanted`: exact name first, then the one equal ignoring case and spacing."""
    if wanted in columns:
        return wanted
    matches = [c for c in columns if normalise_name(c) == normalise_name(wanted)]
    return matches[0] if len(matches) == 1 else None


def require_columns(df: pd.DataFrame, source: str, required: Sequence[str], optional: Sequence[str],
             aliases: dict[str, str] | None = None) -> dict[str, str | None]:
    """canonical name -> actual column (None for absent optional ones)."""
    columns = [str(c) for c in df.columns]
    found: dict[str, str | None] = {}
    for name in (*required, *optional):
        actual = resolve_column(columns, name)
        if actual is None and aliases and name in aliases:
            actual = resolve_column(columns, aliases[name])
        if actual is None and name in required:
            raise InputError(f"{source}: required column '{name}' not found; columns found: {describe_columns(columns)}")
        found[name] = actual
    return found
