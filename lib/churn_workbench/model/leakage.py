"""Leakage guard: columns that would make a model look good for the wrong reason.

`screen(X, y, label_name, allow)` flags, on the labelled rows:
- id-like columns: text unique in (almost) every row; whole numbers unique in every row that run
  in file order or fill a near-consecutive range (row numbers, account numbers);
- label look-alikes: the column's name contains the label's name or "churn" (a churn reason,
  score or date is written after the customer left);
- single-column oracles: the column alone separates churners from the rest almost perfectly
  (ROC-AUC >= ORACLE_AUC; categories scored by out-of-fold churn rate so a unique-per-row column
  cannot fit itself).
Each flagged column is excluded with one warning line naming it and the reason, unless it is in
`allow` (the data config's override), in which case it is kept and the line says so.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.metrics import roc_auc_score

UNIQUE_TEXT_SHARE = 0.95
ORACLE_AUC = 0.97
MIN_ROWS = 30
SCREEN_MAX_ROWS = 50_000


def _words(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def _id_like(values: pd.Series) -> str | None:
    v = values.dropna()
    if len(v) < MIN_ROWS:
        return None
    if not (ptypes.is_numeric_dtype(v.dtype) or ptypes.is_bool_dtype(v.dtype)):
        share = v.astype(str).nunique() / len(v)
        return f"id-like: {share:.0%} of its values are unique" if share >= UNIQUE_TEXT_SHARE else None
    if ptypes.is_bool_dtype(v.dtype):
        return None
    x = pd.to_numeric(v, errors="coerce").dropna().to_numpy(dtype=float)
    if len(x) < MIN_ROWS or not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
        return None
    if len(np.unique(x)) < len(x):
        return None
    diffs = np.diff(x)
    if np.all(diffs > 0) or np.all(diffs < 0):
        return "id-like: whole numbers, unique per row and monotonic in file order"
    if x.max() - x.min() + 1 <= 1.5 * len(x):
        return "id-like: whole numbers, unique per row, filling a consecutive range"
    return None


def _look_alike(column: str, label_name: str) -> str | None:
    col, lab = _words(column), _words(label_name)
    tokens = {t for t in (lab, "churn") if t}
    if any(t in col for t in tokens):
        return f"label look-alike: its name resembles the label ({label_name!r})"
    return None


def single_column_auc(values: pd.Series, y: np.ndarray, seed: int = 0) -> float:
    """ROC-AUC (direction-free, >= 0.5) of one column alone; blanks form their own group."""
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        return float("nan")
    if ptypes.is_numeric_dtype(values.dtype) or ptypes.is_bool_dtype(values.dtype):
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(x)
        if missing.all():
            return 0.5
        # Blanks ranked at either end, whichever separates better.
        low = np.where(missing, np.nanmin(x) - 1, x)
        high = np.where(missing, np.nanmax(x) + 1, x)
        a_low, a_high = roc_auc_score(y, low), roc_auc_score(y, high)
        return float(max(a_low, a_high, 1 - a_low, 1 - a_high))
    # Categories: out-of-fold churn rate per value (2 folds), so that values seen once score
    # the overall rate instead of their own label.
    text = values.astype(object).where(values.notna(), "\0blank").astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, 2, len(y))
    score = np.full(len(y), y.mean(), dtype=float)
    for f in (0, 1):
        fit = fold != f
        rates = pd.Series(y[fit]).groupby(text[fit]).agg(["sum", "count"])
        smoothed = (rates["sum"] + y.mean() * 1.0) / (rates["count"] + 1.0)
        score[~fit] = pd.Series(text[~fit]).map(smoothed).fillna(y.mean()).to_numpy()
    auc = roc_auc_score(y, score)
    return float(max(auc, 1 - auc))


def screen(X: pd.DataFrame, y, label_name: str = "churned", allow=()) -> tuple[dict[str, str], list[str]]:
    """(excluded columns -> reason, warning lines). X: labelled rows only; y: their 0/1 labels.

    allow: column names the data config declares safe; they are kept (still named in a line).
    """
    y = np.asarray(y, dtype=int)
    # A column that predicts the label almost perfectly does so on any large random sample: the
    # single-column AUCs are computed on at most 50,000 rows (within a few thousandths of the
    # full ones); the id-like test sees every row.
    sample = (np.sort(np.random.default_rng(0).choice(len(y), SCREEN_MAX_ROWS, replace=False))
              if len(y) > SCREEN_MAX_ROWS else None)
    allow = set(allow or ())
    excluded: dict[str, str] = {}
    lines: list[str] = []
    for c in X.columns:
        reason = _id_like(X[c]) or _look_alike(c, label_name)
        if reason is None and len(y) >= MIN_ROWS:
            auc = (single_column_auc(X[c], y) if sample is None
                   else single_column_auc(X[c].iloc[sample], y[sample]))
            if auc >= ORACLE_AUC:
                reason = f"predicts the label almost perfectly on its own (ROC-AUC {auc:.3f})"
        if reason is None:
            continue
        if c in allow:
            lines.append(f"column {c!r} kept although it looks like leakage ({reason}): allowed by the data config")
        else:
            excluded[c] = reason
            lines.append(f"column {c!r} excluded from the features: {reason}")
    return excluded, lines
