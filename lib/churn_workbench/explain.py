"""Per-customer risk drivers: which columns push this customer's churn risk above the population's.

Contributions are Shapley values of the model's log-odds, measured against the population (the
training rows), one per original column:

- LightGBM: TreeSHAP (`pred_contrib`), exact for the trees; categories are native splits, so a
  column is one feature and nothing needs regrouping.
- Logistic regression: exact Shapley values of a linear model, coef * (z - mean z) over the
  training rows, summed over each column's encoded parts (value, missing indicator, one-hot block).
- Blend: the same weighted sum of the two (Shapley values are linear in the model).

So the contributions of a customer sum to their log-odds minus the population's expected
log-odds: a driver means "this value makes the customer riskier than customers are on average",
not "riskier than the most common customer". Regularised models (L2, shallow trees with large
leaves, feature subsampling) spread credit over correlated columns instead of flipping signs
between them; `tests/test_explain.py` checks drivers against a known generating process.

A customer's drivers are the columns with the largest positive contributions (at most k, possibly
none). Sensitive columns are never drivers. Names are the original column names.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse

from .model import TrainedModel, prepare
from .model import estimators
from .model.prep import to_matrix

CHUNK_ROWS = 200_000
EPSILON = 1e-9
VERIFY_ROWS = 256


class _Stumps:
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


def _lgb_contributions(model: TrainedModel, M: np.ndarray) -> np.ndarray:
    """TreeSHAP per column (without the expected-value column); stump ensembles by lookup,
    checked against LightGBM's own TreeSHAP on the first rows of every call."""
    stumps = getattr(model, "_stumps", None)
    if stumps is None:
        categorical = set(range(len(model.numeric_columns), len(model.feature_columns)))
        stumps = _Stumps(model.booster, len(model.feature_columns), categorical)
        model._stumps = stumps
    if stumps.ok and len(M):
        fast = stumps.contributions(M)
        k = min(VERIFY_ROWS, len(M))
        exact = estimators.lgb_contrib(model.booster, M[:k])[:, :-1]
        if np.allclose(fast[:k], exact, atol=1e-6):
            return fast
        stumps.ok = False  # never trust it again for this model
    return estimators.lgb_contrib(model.booster, M)[:, :-1]


def _lr_contributions(model: TrainedModel, Xp: pd.DataFrame) -> np.ndarray:
    pipe = model.lr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # unseen categories are expected
        Z = pipe.named_steps["prep"].transform(Xp)
    coef = pipe.named_steps["model"].coef_.ravel()
    groups = estimators.lr_groups(pipe, model.feature_columns)
    rows = np.concatenate(groups) if groups else np.zeros(0, int)
    cols = np.concatenate([np.full(len(g), j) for j, g in enumerate(groups)]) if groups else np.zeros(0, int)
    weights = sparse.csr_matrix((coef[rows], (rows, cols)), shape=(len(coef), len(groups)))
    part = Z @ weights
    part = part.toarray() if sparse.issparse(part) else np.asarray(part)
    mean = np.asarray(model.lr_mean, dtype=float)
    return part - np.asarray(weights.T @ mean).ravel()


def _contributions(model: TrainedModel, X: pd.DataFrame) -> np.ndarray:
    Xp = prepare(X, model.numeric_columns, model.categorical_columns)
    out = np.zeros((len(X), len(model.feature_columns)))
    if model.weights.get("lightgbm"):
        M = to_matrix(Xp, model.numeric_columns, model.categorical_columns, model.categories)
        out += model.weights["lightgbm"] * _lgb_contributions(model, M)
    if model.weights.get("logistic_regression"):
        out += model.weights["logistic_regression"] * _lr_contributions(model, Xp)
    return out


def contributions(model: TrainedModel, X: pd.DataFrame) -> pd.DataFrame:
    """Log-odds contribution of every feature for every row: (n_rows, n_features), X's index.

    Positive = this column's value raises the customer's risk relative to the population.
    Row sums equal the row's log-odds minus the population's expected log-odds.
    """
    out = np.zeros((len(X), len(model.feature_columns)))
    for start in range(0, len(X), CHUNK_ROWS):
        out[start:start + CHUNK_ROWS] = _contributions(model, X.iloc[start:start + CHUNK_ROWS])
    return pd.DataFrame(out, index=X.index, columns=model.feature_columns)


def top_drivers(model: TrainedModel, X: pd.DataFrame, k: int = 3) -> list[list[str]]:
    """For each row of X, up to k column names that most increase its churn risk (largest first).

    X: (n_rows, ...) DataFrame with the model's feature columns (matched by name; missing ones
    count as blank). Sensitive columns are never returned. Works in chunks of CHUNK_ROWS rows.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    names = np.array(model.feature_columns, dtype=object)
    never = np.isin(names, list(model.sensitive_columns or ()))
    k = min(k, len(names))
    result: list[list[str]] = []
    for start in range(0, len(X), CHUNK_ROWS):
        contrib = _contributions(model, X.iloc[start:start + CHUNK_ROWS])
        contrib[:, never] = -np.inf
        idx = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(contrib, idx, axis=1)
        top = names[idx]
        positive = values > EPSILON
        if positive.all():
            result.extend(top.tolist())
        else:
            result.extend(list(t[m]) for t, m in zip(top, positive))
    return result
