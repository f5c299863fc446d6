"""Per-customer risk drivers: which columns push this customer's churn risk above the population's.

Contributions are Shapley values of the model's log-odds, measured against the population (the
training rows), one per original column:

- LightGBM: TreeSHAP (`pred_contrib`), exact for the trees; categories are native splits, so a
  column is one feature and nothing needs regrouping.
- Logistic regression: exact Shapley values of a linear model, coef * (z - mean z) over the
  training rows, summed over each column's encoded parts (value, missing indicator, one-hot block).
- CatBoost: its own exact TreeSHAP (`ShapValues`) on the symmetric trees, one value per column.
- Blend: the same weighted sum of the components (Shapley values are linear in the model).

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
from .model import catboost_part, estimators
from .model.prep import to_matrix
from .model.stumps import lgb_contributions as _lgb_contributions

CHUNK_ROWS = 200_000
EPSILON = 1e-9


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
    if model.weights.get("catboost"):
        out += model.weights["catboost"] * catboost_part.contributions(model.catboost, Xp, model.numeric_columns,
                                                                        model.categorical_columns)
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
