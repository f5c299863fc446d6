"""Turning a feature frame into model inputs: column kinds, clean dtypes, category codes."""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

MAX_CATEGORIES = 200  # per categorical column; rarer values share the "missing" code
MIN_CATEGORY_ROWS = 10


def split_columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) column names: numbers and booleans are numeric, the rest categories."""
    numeric = [c for c in X.columns if ptypes.is_numeric_dtype(X[c].dtype) or ptypes.is_bool_dtype(X[c].dtype)]
    categorical = [c for c in X.columns if c not in set(numeric)]
    return numeric, categorical


def prepare(X: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Exactly numeric + categorical columns in that order: float64 (NaN) and object str (NaN).

    Missing columns become all-NaN; extra columns are dropped; unparseable numbers become NaN.
    """
    out: dict[str, np.ndarray] = {}
    n = len(X)
    for c in numeric:
        if c in X.columns:
            values = pd.to_numeric(X[c], errors="coerce")
            out[c] = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[c] = np.full(n, np.nan)
    for c in categorical:
        if c in X.columns:
            codes, uniques = pd.factorize(X[c], use_na_sentinel=True)
            labels = np.array([str(u) for u in uniques] + [np.nan], dtype=object)
            out[c] = labels[codes]  # code -1 picks the trailing NaN
        else:
            out[c] = np.full(n, np.nan, dtype=object)
    return pd.DataFrame(out, index=X.index, columns=[*numeric, *categorical])


def fit_categories(Xp: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    """Per categorical column, the kept categories (most frequent first; at least
    MIN_CATEGORY_ROWS rows each, at most MAX_CATEGORIES). Others are coded as missing."""
    out = {}
    for c in categorical:
        counts = Xp[c].value_counts(dropna=True)
        out[c] = [str(v) for v in counts[counts >= MIN_CATEGORY_ROWS].index[:MAX_CATEGORIES]]
    return out


def to_matrix(Xp: pd.DataFrame, numeric: list[str], categorical: list[str],
              categories: dict[str, list[str]]) -> np.ndarray:
    """float64 matrix (n, len(numeric) + len(categorical)): numbers as they are, categories as
    integer codes into `categories[c]` (NaN for blank, rare or unseen values). Column order is
    numeric then categorical, as given (never the dict's order, which JSON may sort)."""
    cols = [Xp[c].to_numpy(dtype=float, na_value=np.nan) if c in Xp else np.full(len(Xp), np.nan) for c in numeric]
    for c in categorical:
        kept = categories.get(c, [])
        codes = pd.Categorical(Xp[c], categories=kept).codes.astype(float) if c in Xp else np.full(len(Xp), -1.0)
        codes[codes < 0] = np.nan
        cols.append(codes)
    return np.column_stack(cols) if cols else np.zeros((len(Xp), 0))
