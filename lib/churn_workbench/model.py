"""The churn model: training with model comparison, calibration, honest metrics, safe persistence.

How `train` works (each choice is recorded in `TrainedModel.train_summary`):

1. Rows with an unknown label are ignored. At least `MIN_LABELLED` labelled rows and
   `MIN_PER_CLASS` of each class are required (`TrainingError` otherwise).
2. Feature columns that are blank or constant in every labelled row are dropped.
3. A stratified held-out split (20%, at most `MAX_HOLDOUT_ROWS` rows) is set aside first and
   used for nothing but the reported metrics.
4. The rest is the training pool; above `max_train_rows` rows it is a stratified random
   subsample (the label rate is kept). Beyond ~200k rows the metrics barely move while time grows
   linearly, so 1M customers train in well under a minute on 2 cores.
5. Two candidates are compared with stratified k-fold cross-validation on the training pool (at
   most `MAX_COMPARE_ROWS` rows): a regularised logistic regression (median imputation with
   missing indicators, standardisation, one-hot categories with rare ones grouped) and a
   histogram gradient boosting (native missing values and categories). The higher mean CV ROC-AUC
   wins; a tie goes to the logistic regression. Selecting on CV rather than on the held-out
   split keeps the held-out metrics unbiased.
6. The winner is calibrated with `CalibratedClassifierCV(ensemble=False)`: isotonic regression on
   out-of-fold scores when the pool has at least `ISOTONIC_MIN_ROWS` rows (enough data for a
   free-form monotone map), Platt's sigmoid below that (isotonic overfits small samples).
7. Held-out ROC-AUC, PR-AUC (average precision) and Brier score come with bootstrap 95% CIs
   (percentile method); the calibration curve (10 quantile bins), ROC points and lift by decile
   are kept in `curves`.

Persistence: one skops file holds the pipeline and the metadata (as JSON), so a single sha256
identifies the model version. `load_model` checks that hash before parsing anything and loads
with an explicit allow-list of types.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import skops.io as sio
from pandas.api import types as ptypes
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from .errors import ModelIntegrityError, TrainingError

MIN_LABELLED = 20
MIN_VALUES = 20  # a feature with fewer non-blank labelled values than this is dropped
MIN_PER_CLASS = 5
HOLDOUT_SHARE = 0.2
MAX_HOLDOUT_ROWS = 50_000
MAX_COMPARE_ROWS = 100_000
ISOTONIC_MIN_ROWS = 5_000
N_BOOTSTRAP = 500
PREDICT_CHUNK = 250_000
ALGORITHMS = ("logistic_regression", "hist_gradient_boosting")
FORMAT = "churn_workbench.model/1"
# Types inside our artefacts that skops does not trust by default. Loading passes exactly this
# list; a file that needs anything else is refused before it is deserialised.
TRUSTED_TYPES = (
    "functools.partial",
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
)


@dataclass
class TrainedModel:
    """A fitted, calibrated churn model and everything needed to judge and explain it.

    pipeline: sklearn Pipeline ("prep" ColumnTransformer, "model" CalibratedClassifierCV);
        `predict_proba` on it returns P(churn) in column 1.
    feature_columns: the input columns, in order; numeric_columns / categorical_columns split them.
    metrics: held-out metrics (floats) with "<name>_ci95" = [low, high].
    candidates: per algorithm, the cross-validation results that chose the winner.
    curves: "roc" (fpr, tpr), "calibration" (bins), "lift" (deciles), all on the held-out split.
    train_summary: rows used, label rates, dates, seed, dropped columns, calibration method.
    reference: per feature, the typical value (median / most frequent) used as the explanation
        baseline.
    holdout: held-out rows (index customer_id; "label", "probability" and the feature columns).
        Kept in memory for the model card; not saved (None after `load_model`).
    """

    pipeline: Pipeline
    algorithm: str
    feature_columns: list[str]
    numeric_columns: list[str]
    categorical_columns: list[str]
    metrics: dict
    candidates: dict
    curves: dict
    train_summary: dict
    reference: dict = field(default_factory=dict)
    holdout: pd.DataFrame | None = field(default=None, repr=False)


# --------------------------------------------------------------------------- preparation

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


def _preprocessor(algorithm: str, numeric: list[str], categorical: list[str], n_rows: int) -> ColumnTransformer:
    # Categories seen in fewer rows than this are grouped as "infrequent" (and unseen ones join them).
    min_frequency = max(10, int(0.0005 * n_rows))
    parts = []
    if algorithm == "logistic_regression":
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
        return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.3)
    if numeric:
        parts.append(("num", "passthrough", numeric))
    if categorical:
        # HGB handles categories natively (<= 255 bins); unknown categories become missing.
        parts.append(("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                            encoded_missing_value=np.nan, min_frequency=min_frequency,
                                            max_categories=250), categorical))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def _classifier(algorithm: str, numeric: list[str], categorical: list[str], n_rows: int, seed: int):
    if algorithm == "logistic_regression":
        return LogisticRegression(C=1.0, max_iter=2000)
    mask = [False] * len(numeric) + [True] * len(categorical)
    # Early stopping needs a validation split worth the name; tiny data gets a short fixed budget.
    early = n_rows >= 1000
    return HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=300 if early else 100, max_leaf_nodes=31, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=early, validation_fraction=0.1, n_iter_no_change=20,
        categorical_features=mask if categorical else None, random_state=seed)


def _single_threaded():
    """Fits and predictions run with single-threaded OpenMP/BLAS. On a 2-core machine where another
    process is busy (a notebook, the dashboard, a second run), OpenMP's spin-waiting made a 2-thread
    HistGradientBoosting fit ~10x and a 1M-row prediction ~2.5x *slower* than one thread (measured);
    with rows capped at max_train_rows a single-threaded fit takes seconds anyway."""
    return threadpool_limits(limits=1)


def _pipeline(algorithm, numeric, categorical, n_rows, seed, calibration=None, cv=3) -> Pipeline:
    clf = _classifier(algorithm, numeric, categorical, n_rows, seed)
    if calibration:
        clf = CalibratedClassifierCV(clf, method=calibration, cv=cv, ensemble=False)
    return Pipeline([("prep", _preprocessor(algorithm, numeric, categorical, n_rows)), ("model", clf)])


# --------------------------------------------------------------------------- metrics

def _weighted_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, presorted: bool = False) -> dict[str, np.ndarray]:
    """ROC-AUC, average precision and Brier score under row weights, for many weight vectors at once.

    y, p: shape (n,). w: shape (b, n), non-negative. Returns arrays of shape (b,) (NaN where a
    replicate has no positive or no negative). Ties are handled as sklearn does: tied scores form
    one threshold, and a tied positive/negative pair counts 1/2 in the AUC.
    """
    if presorted:  # p is already in descending order
        ys, ps = y.astype(float), p
    else:
        order = np.argsort(-p, kind="mergesort")
        ys, ps, w = y[order].astype(float), p[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, np.diff(ps) != 0])
    pos = np.add.reduceat(w * ys, starts, axis=1)
    neg = np.add.reduceat(w * (1 - ys), starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    P, N = tp[:, -1], fp[:, -1]
    valid = (P > 0) & (N > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (N[:, None] - fp + 0.5 * neg)).sum(axis=1) / (P * N)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (pos * precision).sum(axis=1) / P
        brier = (w @ ((ps - ys) ** 2)) / w.sum(axis=1)
    return {"roc_auc": np.where(valid, auc, np.nan), "pr_auc": np.where(valid, ap, np.nan), "brier": brier}


def _bootstrap(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the held-out metrics.

    A resample is expressed as multinomial row counts, so each replicate costs O(n) on rows sorted
    once by score instead of a fresh sort: 500 replicates of 50k rows take about a second.
    """
    n = len(y)
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    parts = []
    for done in range(0, n_boot, batch):
        b = min(batch, n_boot - done)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(float)
        parts.append(_weighted_metrics(y, p, counts, presorted=True))
    return {k: (lambda v: v[~np.isnan(v)])(np.concatenate([part[k] for part in parts])) for k in parts[0]}


def _ci(values: np.ndarray) -> list[float]:
    if len(values) == 0:
        return [float("nan"), float("nan")]
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 5), round(float(high), 5)]


def evaluate(y: np.ndarray, p: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[dict, dict]:
    """(metrics, curves) for labels y (0/1) and predicted probabilities p, both shape (n,)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    both = len(np.unique(y)) == 2
    metrics = {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p, labels=[0, 1])),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "base_rate": float(y.mean()),
        "holdout_rows": int(len(y)),
        "bootstrap_replicates": int(n_boot),
    }
    boot = _bootstrap(y, p, n_boot, seed)
    for name in ("roc_auc", "pr_auc", "brier"):
        metrics[f"{name}_ci95"] = _ci(boot[name])

    fpr, tpr, _ = roc_curve(y, p) if both else (np.array([0.0, 1.0]), np.array([0.0, 1.0]), None)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 201)).round().astype(int))
    roc = {"fpr": [round(float(v), 5) for v in fpr[keep]], "tpr": [round(float(v), 5) for v in tpr[keep]]}

    edges = np.unique(np.quantile(p, np.linspace(0, 1, 11)))
    bins = np.searchsorted(edges[1:-1], p, side="right")
    calibration = []
    for b in range(bins.max() + 1 if len(bins) else 0):
        m = bins == b
        if m.any():
            calibration.append({"bin": int(b), "rows": int(m.sum()), "mean_predicted": round(float(p[m].mean()), 5),
                                "observed_rate": round(float(y[m].mean()), 5)})

    order = np.argsort(-p, kind="mergesort")
    decile = np.arange(len(p)) * 10 // max(len(p), 1)
    ranked_y = y[order]
    total_pos = max(int(y.sum()), 1)
    lift, captured = [], 0
    for d in range(10):
        m = decile == d
        if not m.any():
            continue
        rate = float(ranked_y[m].mean())
        captured += int(ranked_y[m].sum())
        lift.append({"decile": d + 1, "rows": int(m.sum()), "churn_rate": round(rate, 5),
                     "lift": round(rate / metrics["base_rate"], 4) if metrics["base_rate"] > 0 else float("nan"),
                     "cumulative_capture": round(captured / total_pos, 5)})
    if lift:
        metrics["lift_top_decile"] = lift[0]["lift"]
        metrics["capture_top_decile"] = lift[0]["cumulative_capture"]
        metrics["capture_top_2_deciles"] = lift[min(1, len(lift) - 1)]["cumulative_capture"]
    return metrics, {"roc": roc, "calibration": calibration, "lift": lift}


# --------------------------------------------------------------------------- training

def _labels(X: pd.DataFrame, y) -> pd.Series:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame (one row per customer, columns = features)")
    y = pd.Series(y) if not isinstance(y, pd.Series) else y
    if len(y) == len(X) and (y.index.equals(X.index) or isinstance(y.index, pd.RangeIndex)):
        y = pd.Series(y.to_numpy(), index=X.index, name="churned")
    elif set(y.index) >= set(X.index):
        y = y.reindex(X.index)
    else:
        raise ValueError("y must be indexed like X (customer_id) or have the same length")
    y = pd.to_numeric(y.astype("object").where(y.notna(), np.nan), errors="coerce")
    bad = y.notna() & ~y.isin([0, 1])
    if bad.any():
        raise ValueError(f"labels must be 0, 1 or missing; found {sorted(set(y[bad]))[:5]}")
    return y


def train(X: pd.DataFrame, y: pd.Series, seed: int = 0, max_train_rows: int = 200_000,
          algorithms: tuple[str, ...] = ALGORITHMS) -> TrainedModel:
    """Fit, compare, calibrate and evaluate a churn model (see the module docstring).

    X: (n_customers, n_features) DataFrame, index customer_id; numeric columns are numbers,
       anything else is a category. Identifier columns must not be in X (`feature_frame` ensures it).
    y: 0/1 labels (NA = unknown, ignored), indexed like X.
    algorithms: the candidates to compare (default: both).
    Returns a TrainedModel whose pipeline outputs calibrated P(churn).
    """
    unknown = set(algorithms) - set(ALGORITHMS)
    if unknown or not algorithms:
        raise ValueError(f"algorithms must be a non-empty subset of {ALGORITHMS}")
    started = time.perf_counter()
    y = _labels(X, y)
    labelled = y.notna().to_numpy()
    n_lab = int(labelled.sum())
    counts = y[labelled].value_counts()
    minority = int(counts.min()) if len(counts) == 2 else 0
    if n_lab < MIN_LABELLED or minority < MIN_PER_CLASS:
        raise TrainingError(
            f"cannot train: {n_lab} labelled customers ({int(counts.get(1, 0))} churned, {int(counts.get(0, 0))} not); "
            f"need at least {MIN_LABELLED} with {MIN_PER_CLASS} of each class; fill in the label column for more customers"
        )
    X_lab = X.loc[labelled]
    y_lab = y[labelled].astype(int)
    numeric, categorical = split_columns(X_lab)
    Xp = prepare(X_lab, numeric, categorical)
    dropped = {}
    for c in list(Xp.columns):
        # Nearly blank columns carry no signal, and an all-blank column in a CV fold crashes
        # HistGradientBoosting's binning (scikit-learn 1.9), so they go before any fit.
        if Xp[c].notna().sum() < MIN_VALUES:
            dropped[c] = f"fewer than {MIN_VALUES} non-blank values in the labelled rows"
        elif Xp[c].nunique(dropna=False) <= 1:
            dropped[c] = "a single value in every labelled row"
    numeric = [c for c in numeric if c not in dropped]
    categorical = [c for c in categorical if c not in dropped]
    if not numeric and not categorical:
        raise TrainingError("cannot train: no usable feature columns (all blank or constant)")
    Xp = Xp[[*numeric, *categorical]]

    n_hold = int(min(max(round(HOLDOUT_SHARE * n_lab), 2), MAX_HOLDOUT_ROWS))
    X_pool, X_hold, y_pool, y_hold = train_test_split(Xp, y_lab, test_size=n_hold, stratify=y_lab, random_state=seed)
    subsampled = len(X_pool) > max_train_rows
    if subsampled:
        X_pool, _, y_pool, _ = train_test_split(X_pool, y_pool, train_size=max_train_rows, stratify=y_pool,
                                                random_state=seed)
    pool_minority = int(y_pool.value_counts().min())

    # Model comparison by cross-validation on (a subsample of) the training pool.
    if len(X_pool) > MAX_COMPARE_ROWS:
        X_cmp, _, y_cmp, _ = train_test_split(X_pool, y_pool, train_size=MAX_COMPARE_ROWS, stratify=y_pool,
                                              random_state=seed)
    else:
        X_cmp, y_cmp = X_pool, y_pool
    folds = max(2, min(5 if len(X_cmp) < 10_000 else 3, int(y_cmp.value_counts().min())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    candidates: dict = {}
    for algorithm in algorithms:
        aucs, aps, briers, secs = [], [], [], []
        for fit_idx, val_idx in splitter.split(X_cmp, y_cmp):
            t0 = time.perf_counter()
            pipe = _pipeline(algorithm, numeric, categorical, len(fit_idx), seed)
            with warnings.catch_warnings(), _single_threaded():
                warnings.simplefilter("ignore", category=UserWarning)  # "infrequent categories" notices
                pipe.fit(X_cmp.iloc[fit_idx], y_cmp.iloc[fit_idx])
                p = pipe.predict_proba(X_cmp.iloc[val_idx])[:, 1]
            secs.append(time.perf_counter() - t0)
            yv = y_cmp.iloc[val_idx].to_numpy()
            aucs.append(roc_auc_score(yv, p))
            aps.append(average_precision_score(yv, p))
            briers.append(brier_score_loss(yv, p))
        candidates[algorithm] = {
            "cv_roc_auc_mean": round(float(np.mean(aucs)), 5), "cv_roc_auc_std": round(float(np.std(aucs)), 5),
            "cv_pr_auc_mean": round(float(np.mean(aps)), 5), "cv_brier_mean": round(float(np.mean(briers)), 5),
            "cv_roc_auc_folds": [round(float(a), 5) for a in aucs], "fit_seconds_mean": round(float(np.mean(secs)), 3),
            "cv_rows": int(len(X_cmp)), "cv_folds": folds,
        }
    algorithm = max(candidates, key=lambda a: (candidates[a]["cv_roc_auc_mean"], a == "logistic_regression"))
    for name in candidates:
        candidates[name]["chosen"] = name == algorithm

    calibration = "isotonic" if len(X_pool) >= ISOTONIC_MIN_ROWS else "sigmoid"
    pipeline = _pipeline(algorithm, numeric, categorical, len(X_pool), seed, calibration=calibration,
                         cv=min(3, pool_minority))
    with warnings.catch_warnings(), _single_threaded():
        warnings.simplefilter("ignore", category=UserWarning)
        pipeline.fit(X_pool, y_pool)
        p_hold = pipeline.predict_proba(X_hold)[:, 1]
    metrics, curves = evaluate(y_hold.to_numpy(), p_hold, seed=seed)

    reference = {}
    for c in numeric:
        v = X_pool[c].median()
        reference[c] = None if pd.isna(v) else float(v)
    for c in categorical:
        mode = X_pool[c].mode(dropna=True)
        reference[c] = None if mode.empty else str(mode.iloc[0])

    holdout = X_hold.copy()
    holdout.insert(0, "probability", p_hold)
    holdout.insert(0, "label", y_hold.to_numpy())
    summary = {
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows_total": int(len(X)), "rows_labelled": n_lab, "rows_unlabelled_ignored": int(len(X) - n_lab),
        "rows_train": int(len(X_pool)), "rows_holdout": int(n_hold), "train_subsampled": bool(subsampled),
        "max_train_rows": int(max_train_rows),
        "label_rate": round(float(y_lab.mean()), 5), "label_rate_train": round(float(y_pool.mean()), 5),
        "label_rate_holdout": round(float(y_hold.mean()), 5),
        "seed": int(seed), "calibration": calibration, "dropped_columns": dropped,
        "selection": "highest mean cross-validated ROC-AUC on the training pool (tie: logistic regression)",
        "fit_seconds": round(time.perf_counter() - started, 2),
        "sklearn_version": sklearn.__version__,
    }
    return TrainedModel(pipeline=pipeline, algorithm=algorithm, feature_columns=[*numeric, *categorical],
                        numeric_columns=numeric, categorical_columns=categorical, metrics=metrics,
                        candidates=candidates, curves=curves, train_summary=summary, reference=reference,
                        holdout=holdout)


# --------------------------------------------------------------------------- prediction

def predict_proba(model: TrainedModel, X: pd.DataFrame) -> np.ndarray:
    """Calibrated P(churn), shape (n_rows,), for a DataFrame with the model's feature columns.

    Columns are matched by name (order and extra columns do not matter). Categories not seen in
    training are treated as infrequent/missing. Missing feature columns are treated as blank
    (with a warning); if none of them is present, ValueError.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame")
    present = [c for c in model.feature_columns if c in X.columns]
    if model.feature_columns and not present:
        raise ValueError(f"none of the model's {len(model.feature_columns)} feature columns is in X "
                         f"(expected e.g. {', '.join(model.feature_columns[:5])})")
    missing = [c for c in model.feature_columns if c not in X.columns]
    if missing:
        warnings.warn(f"{len(missing)} feature column(s) missing, treated as blank: {', '.join(missing[:10])}",
                      stacklevel=2)
    out = np.empty(len(X), dtype=float)
    for start in range(0, len(X), PREDICT_CHUNK):
        chunk = prepare(X.iloc[start:start + PREDICT_CHUNK], model.numeric_columns, model.categorical_columns)
        with warnings.catch_warnings(), _single_threaded():
            warnings.simplefilter("ignore", category=UserWarning)  # unknown categories are expected
            out[start:start + len(chunk)] = model.pipeline.predict_proba(chunk)[:, 1]
    return out


# --------------------------------------------------------------------------- internals used by explain

def base_estimator(model: TrainedModel):
    """The uncalibrated classifier fitted on the whole training pool (the calibrator is monotone)."""
    return model.pipeline.named_steps["model"].calibrated_classifiers_[0].estimator


def encoded_groups(model: TrainedModel) -> list[np.ndarray]:
    """For each feature column (in `feature_columns` order) the indices of its encoded columns."""
    prep: ColumnTransformer = model.pipeline.named_steps["prep"]
    groups: dict[str, list[int]] = {c: [] for c in model.feature_columns}
    for name, transformer, columns in prep.transformers_:
        if name == "remainder" or not len(columns):
            continue
        start = prep.output_indices_[name].start
        if name == "num" and isinstance(transformer, Pipeline):  # LR: values, then missing indicators
            for i, c in enumerate(columns):
                groups[c].append(start + i)
            indicator = transformer.named_steps["impute"].indicator_
            if indicator is not None:
                for j, i in enumerate(indicator.features_):
                    groups[columns[i]].append(start + len(columns) + j)
        elif name == "cat" and isinstance(transformer, Pipeline):  # LR: one-hot blocks
            names = transformer.named_steps["onehot"].get_feature_names_out([f"x{i}" for i in range(len(columns))])
            for j, out_name in enumerate(names):
                groups[columns[int(out_name.split("_", 1)[0][1:])]].append(start + j)
        else:  # HGB: one encoded column per feature
            for i, c in enumerate(columns):
                groups[c].append(start + i)
    return [np.asarray(groups[c], dtype=int) for c in model.feature_columns]


# --------------------------------------------------------------------------- persistence

def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(model: TrainedModel, directory: str | Path) -> tuple[Path, str]:
    """Write the model as one skops file named by its content hash; returns (path, sha256).

    The file holds {"format", "pipeline", "meta"} where meta is a JSON string (feature columns,
    metrics, curves, summary, reference values). The held-out rows are not saved.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {name: getattr(model, name) for name in (
        "algorithm", "feature_columns", "numeric_columns", "categorical_columns", "metrics", "candidates",
        "curves", "train_summary", "reference")}
    meta["skops_version"] = getattr(sio, "__version__", None) or _skops_version()
    data = sio.dumps({"format": FORMAT, "pipeline": model.pipeline,
                      "meta": json.dumps(_jsonable(meta), sort_keys=True, allow_nan=False)})
    digest = _sha256(data)
    path = directory / f"churn_model_{digest[:12]}.skops"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path, digest


def _skops_version() -> str:
    from importlib.metadata import version
    return version("skops")


def load_model(path: str | Path, expected_sha256: str) -> TrainedModel:
    """Load a model saved by `save_model`, refusing anything but the registered file.

    The file's sha256 must equal `expected_sha256` (the model version in the registry), and every
    type in it must be in TRUSTED_TYPES (checked before deserialising; never `trusted=True`).
    Raises ModelIntegrityError otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelIntegrityError(f"{path}: model file not found (registered sha256 {expected_sha256})")
    data = path.read_bytes()
    actual = _sha256(data)
    if actual != str(expected_sha256).strip().lower():
        raise ModelIntegrityError(
            f"{path}: sha256 {actual} does not match the registered model version {expected_sha256}; "
            "the file was modified or replaced, refusing to load it (retrain, or restore the registered file)"
        )
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise ModelIntegrityError(f"{path}: not a readable skops model file ({type(exc).__name__})") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelIntegrityError(f"{path}: contains types outside the allow-list ({', '.join(unexpected[:5])}); refusing to load it")
    payload = sio.loads(data, trusted=list(TRUSTED_TYPES))
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("pipeline"), Pipeline):
        raise ModelIntegrityError(f"{path}: not a churn_workbench model file (format {FORMAT} expected)")
    meta = json.loads(payload["meta"])
    return TrainedModel(pipeline=payload["pipeline"], algorithm=meta["algorithm"],
                        feature_columns=meta["feature_columns"], numeric_columns=meta["numeric_columns"],
                        categorical_columns=meta["categorical_columns"], metrics=meta["metrics"],
                        candidates=meta["candidates"], curves=meta["curves"], train_summary=meta["train_summary"],
                        reference=meta.get("reference", {}), holdout=None)
