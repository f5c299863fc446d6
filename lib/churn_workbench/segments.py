"""Risk segments from calibrated probabilities (the randomised control group is in control.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .vocab import SEGMENTS  # noqa: F401  (the segment names, highest risk first)


def assign_segments(prob: pd.Series, high: float, medium: float) -> pd.Series:
    """"High" if p >= high, "Medium" if p >= medium, else "Low"; <NA> where p is missing.

    prob: churn probabilities in [0, 1] (any index, kept). Requires 0 <= medium <= high <= 1.
    Returns a string Series with the same index.
    """
    if not 0 <= medium <= high <= 1:
        raise ValueError(f"thresholds must satisfy 0 <= medium <= high <= 1 (got medium={medium}, high={high})")
    prob = pd.Series(prob) if not isinstance(prob, pd.Series) else prob
    p = pd.to_numeric(prob, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    labels = np.select([p >= high, p >= medium], ["High", "Medium"], default="Low").astype(object)
    labels[np.isnan(p)] = None
    return pd.Series(pd.array(labels, dtype="string"), index=prob.index, name="segment")
