"""The two model families and how each is fitted: a regularised logistic regression (sklearn) and
LightGBM tuned for small tables (shallow trees, strong leaf minimums, early stopping chosen by
cross-validation, native categorical splits).

Every fit here is single-threaded: on a 2-core machine shared with notebooks, the dashboard or a
second run, OpenMP spin-waiting made multi-threaded fits several times *slower* (measured).
"""
from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

EARLY_STOPPING_ROUNDS = 60
MAX_ROUNDS = 3000
REFIT_ROUNDS_FACTOR = 1.1  # the final fit sees 1/(k-1) more rows than a CV fold

# Small-data configurations, shallowest first (two-leaf stumps make an additive model, like a GAM). Each is cross-validated with
# early stopping; the best mean out-of-fold log loss wins.
LGBM_GRID = (
    {"num_leaves": 2, "min_data_in_leaf": 40, "lambda_l2": 5.0},  # stumps: an additive model
    {"num_leaves": 4, "min_data_in_leaf": 40, "lambda_l2": 5.0},
    {"num_leaves": 8, "min_data_in_leaf": 30, "lambda_l2": 5.0},
    {"num_leaves": 16, "min_data_in_leaf": 20, "lambda_l2": 1.0},
)
LGBM_BASE = {
    "objective": "binary", "metric": "binary_logloss", "learning_rate": 0.04, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "cat_smooth": 10.0, "cat_l2": 10.0, "min_data_per_group": 40,
    "max_cat_to_onehot": 4, "max_bin": 255, "num_threads": 1, "deterministic": True, "force_row_wise": True,
    "verbosity": -1,
}


def single_threaded():
    return threadpool_limits(limits=1)


# --------------------------------------------------------------------------- logistic regression

def lr_pipeline(numeric: list[str], categorical: list[str], n_rows: int) -> Pipeline:
    """Median imputation with missing indicators and standardisation for numbers, one-hot for
    categories (rare ones grouped), then an L2 logistic regression. Input: a `prepare`d frame."""
    min_frequency = max(10, int(0.0005 * n_rows))
    parts = []
    if numeric:
        parts.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]), numeric))
    if categorical:
        parts.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency,
                                     max_categories=50)),
        ]), categorical))
    prep = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.3)
    return Pipeline([("prep", prep), ("model", LogisticRegression(C=0.5, max_iter=3000))])


def lr_fit(pipe: Pipeline, Xp: pd.DataFrame, y: np.ndarray) -> Pipeline:
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", category=UserWarning)  # "infrequent categories" notices
        return pipe.fit(Xp, y)


def lr_raw(pipe: Pipeline, Xp: pd.DataFrame) -> np.ndarray:
    """Log-odds, shape (n,)."""
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", category=UserWarning)
        return pipe.decision_function(Xp)


def lr_groups(pipe: Pipeline, features: list[str]) -> list[np.ndarray]:
    """For each feature column the indices of its encoded columns (values, missing indicators,
    one-hot block), so contributions can be summed back to the original column."""
    prep: ColumnTransformer = pipe.named_steps["prep"]
    groups: dict[str, list[int]] = {c: [] for c in features}
    for name, transformer, columns in prep.transformers_:
        if name == "remainder" or not len(columns):
            continue
        start = prep.output_indices_[name].start
        if name == "num":
            for i, c in enumerate(columns):
                groups[c].append(start + i)
            indicator = transformer.named_steps["impute"].indicator_
            if indicator is not None:
                for j, i in enumerate(indicator.features_):
                    groups[columns[i]].append(start + len(columns) + j)
        else:
            names = transformer.named_steps["onehot"].get_feature_names_out([f"x{i}" for i in range(len(columns))])
            for j, out_name in enumerate(names):
                groups[columns[int(out_name.split("_", 1)[0][1:])]].append(start + j)
    return [np.asarray(groups[c], dtype=int) for c in features]


def lr_encoded_mean(pipe: Pipeline, Xp: pd.DataFrame) -> list[float]:
    """Mean of each encoded column over Xp (the population baseline for explanations)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        Z = pipe.named_steps["prep"].transform(Xp)
    return [float(v) for v in np.asarray(Z.mean(axis=0)).ravel()]


# --------------------------------------------------------------------------- LightGBM

def _dataset(M: np.ndarray, y: np.ndarray, cat_idx: list[int]) -> lgb.Dataset:
    return lgb.Dataset(M, label=y, categorical_feature=cat_idx or "auto", free_raw_data=False,
                       params={"max_bin": LGBM_BASE["max_bin"], "verbosity": -1})


def lgb_params(config: dict, seed: int, n_rows: int) -> dict:
    params = {**LGBM_BASE, **config, "seed": seed}
    if n_rows > 50_000:  # plenty of data: fewer, larger steps keep 200k-row fits in seconds
        params["learning_rate"] = 0.1
    return params


def shared_round(curves: list[np.ndarray], cap: int | None = None) -> int:
    """The boosting round (1-based) with the lowest mean validation loss over `curves` (one per
    fold, possibly of different lengths: the mean runs up to the shortest), at most `cap`."""
    length = min(len(c) for c in curves)
    if cap is not None:
        length = max(1, min(length, cap))
    return int(np.argmin(np.mean([c[:length] for c in curves], axis=0))) + 1


def honest_rounds(curves: list[np.ndarray]) -> list[int]:
    """For each fold, the round chosen on the *other* folds' validation curves, so the fold's
    out-of-fold scores owe nothing to its own labels (choosing the round on the fold itself
    flatters small tables: ROC-AUC 0.57 on pure noise with 266 rows, measured)."""
    if len(curves) < 2:
        return [shared_round(curves)]
    return [shared_round([c for g, c in enumerate(curves) if g != f], cap=len(curves[f])) for f in range(len(curves))]


def lgb_cv(M: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], config: dict,
           seed: int, cat_idx: list[int]) -> tuple[np.ndarray, int, float]:
    """Cross-validate one configuration, each fold with early stopping on its validation rows.

    Returns (out-of-fold log-odds shape (n,), each fold scored at the round its sibling folds
    chose (`honest_rounds`); the round the folds share (`shared_round`), for the final fit; the
    out-of-fold log loss).
    """
    params = lgb_params(config, seed, len(y))
    curves, boosters = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fit_idx, val_idx in folds:
            train_set = _dataset(M[fit_idx], y[fit_idx], cat_idx)
            valid_set = lgb.Dataset(M[val_idx], label=y[val_idx], reference=train_set)
            evals: dict = {}
            boosters.append(lgb.train(params, train_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set],
                                      valid_names=["valid"], callbacks=[
                                          lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False),
                                          lgb.record_evaluation(evals)]))
            curves.append(np.asarray(evals["valid"]["binary_logloss"]))
    oof = np.zeros(len(y))
    for booster, (_, val), rounds in zip(boosters, folds, honest_rounds(curves)):
        oof[val] = booster.predict(M[val], raw_score=True, num_iteration=rounds)
    return oof, shared_round(curves), log_loss_of(oof, y)


def log_loss_of(raw: np.ndarray, y: np.ndarray) -> float:
    """Mean log loss of log-odds `raw` against 0/1 labels."""
    p = np.clip(1.0 / (1.0 + np.exp(-np.clip(raw, -35, 35))), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def lgb_fit(M: np.ndarray, y: np.ndarray, config: dict, rounds: int, seed: int, cat_idx: list[int]) -> lgb.Booster:
    params = lgb_params(config, seed, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lgb.train(params, _dataset(M, y, cat_idx), num_boost_round=max(1, int(rounds)))


def lgb_raw(booster: lgb.Booster, M: np.ndarray) -> np.ndarray:
    return booster.predict(M, raw_score=True, num_threads=1)


def lgb_contrib(booster: lgb.Booster, M: np.ndarray) -> np.ndarray:
    """TreeSHAP values, shape (n, n_features + 1): per-feature log-odds contributions relative to
    the training population's expected score (last column)."""
    return booster.predict(M, pred_contrib=True, num_threads=1)
