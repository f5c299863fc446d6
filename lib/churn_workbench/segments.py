"""Risk segments from calibrated probabilities, and the randomised control group.

The control group is what lets the workbench measure whether retention actions work: a fixed
share of the customers who would be contacted is held out at random, and churn in the two groups
is compared later. Membership is a keyed hash of (seed, customer id), so it does not depend on
row order, on which other customers are in the file, or on the run: the same customer with the
same seed is always in the same group, and anyone can recompute it.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

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


def _unit_interval(customer_id: str, key: bytes) -> float:
    digest = hashlib.blake2b(customer_id.encode("utf-8"), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def control_group(customer_ids: pd.Index | Sequence, share: float, seed: int | str) -> pd.Series:
    """Bool Series indexed by customer id: True = held out (no action), about `share` of them.

    Each id maps to u = blake2b(id, key=seed) / 2**64, uniform in [0, 1); the customer is in the
    control group when u < share. Deterministic per (id, seed) and independent of order.
    share must be in [0, 1).
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1) (got {share})")
    ids = pd.Index(customer_ids).astype(str)
    key = hashlib.blake2b(str(seed).encode("utf-8"), digest_size=32).digest()
    u = np.fromiter((_unit_interval(c, key) for c in ids), dtype=float, count=len(ids))
    return pd.Series(u < share, index=pd.Index(ids, name="customer_id"), name="control")
