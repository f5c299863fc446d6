"""The fitted model object and scoring: calibrated P(churn) and raw log-odds for a feature frame."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..errors import ModelIntegrityError  # noqa: F401  (re-exported: model.ModelIntegrityError)
from . import calibration, catboost_part, estimators, stumps
from .prep import prepare, to_matrix

COMPONENTS = ("logistic_regression", "lightgbm", "catboost")  # simplest first: ties go to the earlier
ALGORITHMS = (*COMPONENTS, "blend")
PREDICT_CHUNK = 250_000


@dataclass
class TrainedModel:
    """A fitted, calibrated churn model and everything needed to judge and explain it.

    algorithm: "logistic_regression", "lightgbm", "catboost" or "blend" (a weighted sum of the
        components' log-odds).
    weights: component -> weight in the log-odds, e.g. {"lightgbm": 0.7, "logistic_regression": 0.3}.
    lr: sklearn Pipeline (prep + LogisticRegression) on `prepare`d frames, or None.
    booster: LightGBM booster on `to_matrix` arrays (categories coded by `categories`), or None.
    catboost: CatBoostClassifier on `catboost_part.pool` of `prepare`d frames, or None.
    calibrator: see `calibration` (maps log-odds to P(churn)).
    lr_mean: mean of each encoded LR column over the training rows (the explanation baseline).
    feature_columns: the input columns, in order; numeric_columns / categorical_columns split them.
    sensitive_columns: columns never reported as drivers (normally not features at all).
    metrics: out-of-fold metrics over the labelled rows (floats) with "<name>_ci95" = [low, high],
        and the evidence the quality gate weighs: "gate_roc_auc" with "gate_roc_auc_ci95" (nested
        cross-validation on small tables, else the chosen candidate's out-of-fold ROC-AUC less the
        optimism of choosing it), described by "evidence".
    candidates: per candidate, the cross-validation results that chose the winner.
    curves: "roc", "calibration", "lift" of the out-of-fold predictions.
    train_summary: rows, label rates, seed, dropped columns, leakage lines, calibration evidence.
    trained_ids: sorted uint64 hashes (`id_hashes`) of the customers the final fit used, so a later
        quality gate can tell which customers this model has never seen.
    oof: the evaluated rows (index customer_id; "label", "probability" out-of-fold, then the
        features). In memory only.
    """

    algorithm: str
    feature_columns: list[str]
    numeric_columns: list[str]
    categorical_columns: list[str]
    categories: dict
    weights: dict
    calibrator: dict
    metrics: dict
    candidates: dict
    curves: dict
    train_summary: dict
    lr: Pipeline | None = None
    booster: lgb.Booster | None = None
    catboost: object | None = None
    lr_mean: list = field(default_factory=list)
    sensitive_columns: list = field(default_factory=list)
    trained_ids: np.ndarray | None = field(default=None, repr=False)
    oof: pd.DataFrame | None = field(default=None, repr=False)


def id_hashes(ids) -> np.ndarray:
    """uint64 hashes of customer ids (as strings), the form `trained_ids` is kept in."""
    return pd.util.hash_array(np.asarray(pd.Index(ids).astype(str), dtype=object))


def _check_columns(model: TrainedModel, X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame")
    present = [c for c in model.feature_columns if c in X.columns]
    if model.feature_columns and not present:
        raise ValueError(f"none of the model's {len(model.feature_columns)} feature columns is in X "
                         f"(expected e.g. {', '.join(model.feature_columns[:5])})")
    missing = [c for c in model.feature_columns if c not in X.columns]
    if missing:
        warnings.warn(f"{len(missing)} feature column(s) missing, treated as blank: {', '.join(missing[:10])}",
                      stacklevel=3)


def raw_parts(model: TrainedModel, Xp: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per component, the log-odds for a `prepare`d frame."""
    out = {}
    if model.weights.get("logistic_regression"):
        out["logistic_regression"] = estimators.lr_raw(model.lr, Xp)
    if model.weights.get("lightgbm"):
        M = to_matrix(Xp, model.numeric_columns, model.categorical_columns, model.categories)
        out["lightgbm"] = stumps.lgb_raw(model, M)
    if model.weights.get("catboost"):
        out["catboost"] = catboost_part.raw(model.catboost, Xp, model.numeric_columns, model.categorical_columns)
    return out


def combine(weights: dict, parts: dict[str, np.ndarray]) -> np.ndarray:
    return sum(weights[name] * parts[name] for name in parts)


def raw_score(model: TrainedModel, X: pd.DataFrame, checked: bool = False) -> np.ndarray:
    """Uncalibrated log-odds, shape (n_rows,)."""
    if not checked:
        _check_columns(model, X)
    out = np.empty(len(X), dtype=float)
    for start in range(0, len(X), PREDICT_CHUNK):
        chunk = prepare(X.iloc[start:start + PREDICT_CHUNK], model.numeric_columns, model.categorical_columns)
        out[start:start + len(chunk)] = combine(model.weights, raw_parts(model, chunk))
    return out


def predict_proba(model: TrainedModel, X: pd.DataFrame) -> np.ndarray:
    """Calibrated P(churn), shape (n_rows,), for a DataFrame with the model's feature columns.

    Columns are matched by name (order and extra columns do not matter). Categories not seen in
    training count as blank. Missing feature columns are treated as blank (with a warning); if
    none of them is present, ValueError.
    """
    _check_columns(model, X)
    return calibration.apply(model.calibrator, raw_score(model, X, checked=True))
