"""Exact, fast TreeSHAP and scores for LightGBM ensembles of two-leaf trees (stumps).

Used by explanations and scoring; every call checks the lookup against LightGBM's own output on
its first rows and falls back to LightGBM for good if they ever differ.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import estimators

VERIFY_ROWS = 256
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # booster -> Stumps


class Stumps:
    """Exact TreeSHAP for an ensemble of two-leaf trees (stumps), as per-column lookups.

    A stump's Shapley value goes entirely to its split column: leaf(x) - E[leaf], with E the
    training-count-weighted mean of its two leaves. Summed per column, that is a step function of
    the column's value: a sorted threshold search for numbers, a table for category codes, one
    constant for blanks. This turns TreeSHAP over hundreds of trees into one lookup per column.
    """

    def __init__(self, booster, n_features: int, categorical: set[int]):
        self.ok = True
        per: dict[int, list] = {}
        for tree in booster.dump_model()["tree_info"]:
            node = tree["tree_structure"]
            if "leaf_value" in node:  # a tree without a split contributes to no column
                continue
            left, right = node["left_child"], node["right_child"]
            if "leaf_value" not in left or "leaf_value" not in right or node["missing_type"] == "Zero":
                self.ok = False
                return
            nl, nr = left["leaf_count"], right["leaf_count"]
            mean = (left["leaf_value"] * nl + right["leaf_value"] * nr) / max(nl + nr, 1)
            per.setdefault(node["split_feature"], []).append(
                (node, left["leaf_value"] - mean, right["leaf_value"] - mean))
        self.numeric: dict[int, tuple] = {}
        self.categorical: dict[int, tuple] = {}
        for j, stumps in per.items():
            if j in categorical:
                size = 1 + max([int(c) for node, _, _ in stumps for c in str(node["threshold"]).split("||")] + [0])
                table = np.zeros(size)
                outside = 0.0  # blank, negative or unseen codes go right
                for node, lv, rv in stumps:
                    if node["decision_type"] != "==":
                        self.ok = False
                        return
                    goes_left = np.zeros(size, dtype=bool)
                    goes_left[[int(c) for c in str(node["threshold"]).split("||")]] = True
                    table += np.where(goes_left, lv, rv)
                    outside += rv
                self.categorical[j] = (table, outside)
            else:
                if any(node["decision_type"] != "<=" for node, _, _ in stumps):
                    self.ok = False
                    return
                theta = np.array([node["threshold"] for node, _, _ in stumps], dtype=float)
                lv = np.array([a for _, a, _ in stumps])
                rv = np.array([b for _, _, b in stumps])
                order = np.argsort(theta, kind="stable")
                theta, diff = theta[order], (lv - rv)[order]
                suffix = np.r_[np.cumsum(diff[::-1])[::-1], 0.0]  # sum of (L - R) over theta[i:]
                blank = 0.0
                for node, a, b in stumps:
                    if node["missing_type"] == "NaN":
                        blank += a if node["default_left"] else b
                    else:  # missing_type None: a blank is read as 0.0
                        blank += a if 0.0 <= node["threshold"] else b
                self.numeric[j] = (theta, suffix, rv.sum(), blank)
        self.n_features = n_features

    def contributions(self, M: np.ndarray) -> np.ndarray:
        out = np.zeros((M.shape[0], self.n_features))
        for j, (theta, suffix, right_total, blank) in self.numeric.items():
            x = M[:, j]
            missing = np.isnan(x)
            # x <= theta_t goes left: the trees with theta_t >= x, i.e. from searchsorted(left) on.
            values = right_total + suffix[np.searchsorted(theta, np.where(missing, 0.0, x), side="left")]
            out[:, j] = np.where(missing, blank, values)
        for j, (table, outside) in self.categorical.items():
            x = M[:, j]
            inside = ~np.isnan(x) & (x >= 0) & (x < len(table))
            out[:, j] = outside
            out[inside, j] = table[x[inside].astype(int)]
        return out


def lgb_contributions(model, M: np.ndarray) -> np.ndarray:
    """TreeSHAP per column (without the expected-value column); stump ensembles by lookup,
    checked against LightGBM's own TreeSHAP on the first rows of every call."""
    stumps = _stumps(model)
    if stumps.ok and len(M):
        fast = stumps.contributions(M)
        k = min(VERIFY_ROWS, len(M))
        exact = estimators.lgb_contrib(model.booster, M[:k])[:, :-1]
        if np.allclose(fast[:k], exact, atol=1e-6):
            return fast
        stumps.ok = False  # never trust it again for this model
    return estimators.lgb_contrib(model.booster, M)[:, :-1]


def _stumps(model):
    stumps = _CACHE.get(model.booster)
    if stumps is None:
        categorical = set(range(len(model.numeric_columns), len(model.feature_columns)))
        stumps = Stumps(model.booster, len(model.feature_columns), categorical)
        _CACHE[model.booster] = stumps
    return stumps


def uses_lookup(model) -> bool:
    """Whether this model's LightGBM part is explained and scored by the stump lookup."""
    return model.booster is not None and _stumps(model).ok


def lgb_raw(model, M: np.ndarray) -> np.ndarray:
    """Log-odds of the LightGBM part: the lookup's contributions plus the expected value."""
    stumps = _stumps(model)
    if stumps.ok and len(M):
        k = min(VERIFY_ROWS, len(M))
        exact = estimators.lgb_contrib(model.booster, M[:k])
        raw = estimators.lgb_raw(model.booster, M[:k])
        fast = stumps.contributions(M).sum(axis=1) + exact[0, -1]
        if np.allclose(fast[:k], raw, atol=1e-6):
            return fast
        stumps.ok = False
    return estimators.lgb_raw(model.booster, M)
