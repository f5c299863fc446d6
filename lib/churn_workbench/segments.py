"""Risk segments by rank of expected loss (share and budget, not fixed probabilities).
The randomised control group is in control.py."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .vocab import SEGMENTS  # noqa: F401  (the segment names, highest risk first)


def assign_segments(prob: pd.Series, value: pd.Series | None = None, high_share: float = 0.10,
                    medium_share: float = 0.20, high_budget: int = 0) -> pd.Series:
    """Segments by rank of expected loss, not by fixed probabilities.

    Customers are ranked by expected loss = P(churn) x value (value: e.g. monthly revenue, aligned
    on prob's index; blank or negative values count as 0) or by P(churn) alone when value is None.
    "High" = the top `high_share` of the ranked customers (rounded up), at most `high_budget`
    customers when it is > 0 (the number of offers the budget pays for); "Medium" = the next
    `medium_share`; "Low" = the rest. Ties are broken by customer id, so the result does not
    depend on row order. <NA> where p is missing (those customers are not ranked).

    Returns a string Series with prob's index. Requires shares in [0, 1] with sum <= 1.
    """
    if not (0 <= high_share <= 1 and 0 <= medium_share <= 1 and high_share + medium_share <= 1):
        raise ValueError(f"segment shares must lie in [0, 1] and sum to at most 1 (got high={high_share}, medium={medium_share})")
    if high_budget < 0:
        raise ValueError(f"high_budget must be >= 0 (got {high_budget})")
    prob = pd.Series(prob) if not isinstance(prob, pd.Series) else prob
    p = pd.to_numeric(prob, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    score = p.copy()
    if value is not None:
        v = pd.to_numeric(pd.Series(value).reindex(prob.index) if isinstance(value, pd.Series) else pd.Series(value, index=prob.index),
                          errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        score = p * np.where(np.isfinite(v) & (v > 0), v, 0.0)
    ranked = np.flatnonzero(~np.isnan(p))
    ids = np.asarray(prob.index.astype(str))[ranked]
    order = ranked[np.lexsort((ids, -score[ranked]))]
    n = len(order)
    n_high = int(math.ceil(high_share * n - 1e-9))
    if high_budget > 0:
        n_high = min(n_high, int(high_budget))
    n_medium = min(n - n_high, int(math.ceil(medium_share * n - 1e-9)))
    labels = np.full(len(p), None, dtype=object)
    labels[order] = "Low"
    labels[order[:n_high]] = "High"
    labels[order[n_high:n_high + n_medium]] = "Medium"
    return pd.Series(pd.array(labels, dtype="string"), index=prob.index, name="segment")


def segment_lift(labels, probability, segment: pd.Series) -> pd.DataFrame:
    """Per segment (High, Medium, Low): rows, observed churn rate, mean predicted probability,
    lift (churn rate / overall rate) and the share of all churners it holds. Inputs aligned arrays."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probability, dtype=float)
    seg = np.asarray(pd.Series(segment).astype(object))
    base = y.mean() if len(y) else float("nan")
    rows = []
    for name in SEGMENTS:
        m = seg == name
        if not m.any():
            rows.append({"segment": name, "rows": 0, "churn_rate": float("nan"), "mean_predicted": float("nan"),
                         "lift": float("nan"), "share_of_churners": 0.0})
            continue
        rate = float(y[m].mean())
        rows.append({"segment": name, "rows": int(m.sum()), "churn_rate": rate, "mean_predicted": float(p[m].mean()),
                     "lift": rate / base if base > 0 else float("nan"),
                     "share_of_churners": float(y[m].sum() / y.sum()) if y.sum() > 0 else float("nan")})
    return pd.DataFrame(rows)
