"""Training: leakage guard, model selection by cross-validation, calibration by evidence, honest
held-out metrics, then a final refit on all labelled rows.

How `train` works (each choice is recorded in `TrainedModel.train_summary`):

1. Rows with an unknown label are ignored; at least MIN_LABELLED labelled rows and MIN_PER_CLASS
   of each class are required (`TrainingError` otherwise).
2. Blank or constant columns are dropped; the leakage guard (`leakage.screen`) excludes id-like
   columns, label look-alikes and single-column oracles, one warning line each.
3. A stratified held-out split (20%, at most MAX_HOLDOUT_ROWS) is set aside; it is used for the
   reported metrics and the quality gate only. The rest is the training pool (a stratified
   subsample above `max_train_rows`).
4. Candidates are cross-validated on the pool (at most MAX_COMPARE_ROWS rows, 5 folds below 10k
   rows, else 3), all on the same folds: the L2 logistic regression; LightGBM in each small-data
   configuration of `estimators.LGBM_GRID` with early stopping (the best by out-of-fold log loss
   is LightGBM's entry); and blends of the two log-odds. The highest mean per-fold ROC-AUC wins; a
   blend must beat the better single model by BLEND_MIN_GAIN, and ties go to the simpler model.
5. Calibration (none / sigmoid / isotonic) is chosen on the winner's out-of-fold scores by
   cross-validated log loss and the positive count (`calibration.choose`).
6. The winner is fitted on the pool and scored on the held-out rows: these are the reported
   metrics (bootstrap 95% CIs). Then it is refitted on all labelled rows (pool + held-out) with
   the same settings, its calibrator fitted on every out-of-sample score seen (out-of-fold and
   held-out). The held-out metrics therefore describe the procedure on 80% of the data; the
   deployed model saw all of it.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from ..errors import TrainingError
from . import calibration, estimators, leakage
from .core import ALGORITHMS, TrainedModel, combine, id_hashes, raw_parts
from .metrics import evaluate
from .prep import fit_categories, prepare, split_columns, to_matrix

MIN_LABELLED = 20
MIN_VALUES = 20  # a feature with fewer non-blank labelled values than this is dropped
MIN_PER_CLASS = 5
HOLDOUT_SHARE = 0.2
MAX_HOLDOUT_ROWS = 50_000
MAX_COMPARE_ROWS = 30_000  # model selection by CV: enough rows to rank the candidates; the final fit uses all
BLEND_WEIGHTS = (0.3, 0.5, 0.7)  # LightGBM's share of the blended log-odds
BLEND_MIN_GAIN = 0.001


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


class _Fitter:
    """Fits the chosen components on some rows and scores others (log-odds per component)."""

    def __init__(self, numeric, categorical, categories, config, seed):
        self.numeric, self.categorical, self.categories = numeric, categorical, categories
        self.cat_idx = list(range(len(numeric), len(numeric) + len(categories)))
        self.config, self.seed = config, seed

    def fit(self, Xp: pd.DataFrame, y: np.ndarray, components, rounds: int | None) -> dict:
        fitted = {}
        if "logistic_regression" in components:
            fitted["lr"] = estimators.lr_fit(estimators.lr_pipeline(self.numeric, self.categorical, len(Xp)), Xp, y)
        if "lightgbm" in components:
            M = to_matrix(Xp, self.numeric, self.categorical, self.categories)
            fitted["booster"] = estimators.lgb_fit(M, y, self.config, rounds, self.seed, self.cat_idx)
        return fitted


def _cross_validate(Xp, y, numeric, categorical, categories, algorithms, seed):
    """Out-of-fold log-odds per candidate on shared folds, and the per-fold ROC-AUCs."""
    n_min = int(min(y.sum(), len(y) - y.sum()))
    folds_n = max(2, min(5 if len(y) < 10_000 else 3, n_min))
    folds = list(StratifiedKFold(n_splits=folds_n, shuffle=True, random_state=seed).split(Xp, y))
    oof: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    if "logistic_regression" in algorithms:
        started = time.perf_counter()
        raw = np.zeros(len(y))
        for fit_idx, val_idx in folds:
            pipe = estimators.lr_fit(estimators.lr_pipeline(numeric, categorical, len(fit_idx)),
                                     Xp.iloc[fit_idx], y[fit_idx])
            raw[val_idx] = estimators.lr_raw(pipe, Xp.iloc[val_idx])
        oof["logistic_regression"] = raw
        info["logistic_regression"] = {"seconds": round(time.perf_counter() - started, 2)}
    if "lightgbm" in algorithms:
        M = to_matrix(Xp, numeric, categorical, categories)
        cat_idx = list(range(len(numeric), len(numeric) + len(categories)))
        grid = estimators.LGBM_GRID if len(y) <= 20_000 else estimators.LGBM_GRID[2:]
        best = None
        tried = []
        for config in grid:
            started = time.perf_counter()
            raw, rounds, loss = estimators.lgb_cv(M, y, folds, config, seed, cat_idx)
            tried.append({**config, "rounds": rounds, "cv_log_loss": round(loss, 5),
                          "seconds": round(time.perf_counter() - started, 2)})
            if best is None or loss < best[2]:
                best = (raw, rounds, loss, config)
        oof["lightgbm"] = best[0]
        info["lightgbm"] = {"config": best[3], "rounds": best[1], "configs_tried": tried}
    if "blend" in algorithms and {"logistic_regression", "lightgbm"} <= set(oof):
        for w in BLEND_WEIGHTS:
            oof[f"blend_{w}"] = w * oof["lightgbm"] + (1 - w) * oof["logistic_regression"]
    scores = {}
    for name, raw in oof.items():
        aucs = [roc_auc_score(y[v], raw[v]) for _, v in folds]
        scores[name] = {"cv_roc_auc_mean": round(float(np.mean(aucs)), 5),
                        "cv_roc_auc_std": round(float(np.std(aucs)), 5),
                        "cv_roc_auc_folds": [round(float(a), 5) for a in aucs],
                        "cv_rows": int(len(y)), "cv_folds": len(folds), **info.get(name, {})}
    return oof, scores


def _choose(scores: dict) -> str:
    simple = [a for a in ("logistic_regression", "lightgbm") if a in scores]
    best_single = max(simple, key=lambda a: (scores[a]["cv_roc_auc_mean"], a == "logistic_regression"))
    blends = [a for a in scores if a.startswith("blend_")]
    if blends:
        best_blend = max(blends, key=lambda a: scores[a]["cv_roc_auc_mean"])
        if scores[best_blend]["cv_roc_auc_mean"] >= scores[best_single]["cv_roc_auc_mean"] + BLEND_MIN_GAIN:
            return best_blend
    return best_single


def _weights(choice: str) -> dict:
    if choice.startswith("blend_"):
        w = float(choice.split("_", 1)[1])
        return {"lightgbm": w, "logistic_regression": round(1 - w, 6)}
    return {choice: 1.0}


def train(X: pd.DataFrame, y: pd.Series, seed: int = 0, max_train_rows: int = 200_000,
          algorithms: tuple[str, ...] = ALGORITHMS, label_name: str = "churned", allow_columns=(),
          sensitive_columns=()) -> TrainedModel:
    """Fit, compare, calibrate and evaluate a churn model (see the module docstring).

    X: (n_customers, n_features) DataFrame, index customer_id; numeric columns are numbers,
       anything else is a category. Identifier and sensitive columns must not be in X.
    y: 0/1 labels (NA = unknown, ignored), indexed like X.
    algorithms: the candidates ("blend" needs both others).
    allow_columns: columns the leakage guard keeps although they look like leakage.
    sensitive_columns: recorded on the model so they are never reported as drivers.
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
        if Xp[c].notna().sum() < MIN_VALUES:
            dropped[c] = f"fewer than {MIN_VALUES} non-blank values in the labelled rows"
        elif Xp[c].nunique(dropna=False) <= 1:
            dropped[c] = "a single value in every labelled row"
    leaks, leakage_lines = leakage.screen(X_lab[[c for c in X_lab.columns if c not in dropped]], y_lab.to_numpy(),
                                          label_name=label_name, allow=allow_columns)
    dropped.update(leaks)
    numeric = [c for c in numeric if c not in dropped]
    categorical = [c for c in categorical if c not in dropped]
    if not numeric and not categorical:
        raise TrainingError("cannot train: no usable feature columns (all blank, constant or leaking)")
    Xp = Xp[[*numeric, *categorical]]

    n_hold = int(min(max(round(HOLDOUT_SHARE * n_lab), 2), MAX_HOLDOUT_ROWS))
    X_pool, X_hold, y_pool, y_hold = train_test_split(Xp, y_lab, test_size=n_hold, stratify=y_lab, random_state=seed)
    subsampled = len(X_pool) > max_train_rows
    if subsampled:
        X_pool, _, y_pool, _ = train_test_split(X_pool, y_pool, train_size=max_train_rows, stratify=y_pool,
                                                random_state=seed)
    if len(X_pool) > MAX_COMPARE_ROWS:
        X_cmp, _, y_cmp, _ = train_test_split(X_pool, y_pool, train_size=MAX_COMPARE_ROWS, stratify=y_pool,
                                              random_state=seed)
    else:
        X_cmp, y_cmp = X_pool, y_pool
    categories = fit_categories(X_pool, categorical)
    y_cmp_a = y_cmp.to_numpy()
    oof, scores = _cross_validate(X_cmp, y_cmp_a, numeric, categorical, categories, algorithms, seed)
    choice = _choose(scores)
    for name in scores:
        scores[name]["chosen"] = name == choice
    weights = _weights(choice)
    components = tuple(weights)
    lgb_info = scores.get("lightgbm", {})
    config, rounds = lgb_info.get("config"), lgb_info.get("rounds")
    if rounds:
        rounds = int(round(rounds * estimators.REFIT_ROUNDS_FACTOR))

    method, cal_evidence = calibration.choose(oof[choice], y_cmp_a, seed=seed)
    cal = calibration.fit(method, oof[choice], y_cmp_a)
    fitter = _Fitter(numeric, categorical, categories, config, seed)

    # Honest held-out metrics: the same procedure fitted on the pool only.
    pool_fit = fitter.fit(X_pool, y_pool.to_numpy(), components, rounds)
    pool_model = _assemble(choice, weights, numeric, categorical, categories, cal, pool_fit)
    raw_hold = combine(weights, raw_parts(pool_model, X_hold))
    p_hold = calibration.apply(cal, raw_hold)
    metrics, curves = evaluate(y_hold.to_numpy(), p_hold, seed=seed)

    # Final refit on every labelled row used; calibrated on all out-of-sample scores.
    X_all = pd.concat([X_pool, X_hold])
    y_all = np.concatenate([y_pool.to_numpy(), y_hold.to_numpy()])
    final_rounds = int(round(rounds * min(len(X_all) / len(X_pool), 1.15))) if rounds else None
    final_fit = fitter.fit(X_all, y_all, components, final_rounds)
    final_cal = calibration.fit(method, np.concatenate([oof[choice], raw_hold]),
                                np.concatenate([y_cmp_a, y_hold.to_numpy()]))
    model = _assemble(choice, weights, numeric, categorical, categories, final_cal, final_fit)
    if model.lr is not None:
        model.lr_mean = estimators.lr_encoded_mean(model.lr, X_all)
    model.sensitive_columns = list(sensitive_columns)
    model.trained_ids = np.sort(id_hashes(X_all.index))
    model.metrics = metrics
    model.curves = curves
    model.candidates = scores

    holdout = X_hold.copy()
    holdout.insert(0, "probability", p_hold)
    holdout.insert(0, "label", y_hold.to_numpy())
    model.holdout = holdout
    model.train_summary = {
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows_total": int(len(X)), "rows_labelled": n_lab, "rows_unlabelled_ignored": int(len(X) - n_lab),
        "rows_train": int(len(X_pool)), "rows_holdout": int(n_hold), "rows_final_fit": int(len(X_all)),
        "train_subsampled": bool(subsampled), "max_train_rows": int(max_train_rows),
        "label_rate": round(float(y_lab.mean()), 5), "label_rate_train": round(float(y_pool.mean()), 5),
        "label_rate_holdout": round(float(y_hold.mean()), 5),
        "seed": int(seed), "calibration": method, "calibration_evidence": cal_evidence,
        "dropped_columns": dropped, "leakage_warnings": leakage_lines,
        "lightgbm_rounds_final": final_rounds, "lightgbm_config": config,
        "selection": "highest mean cross-validated ROC-AUC on the training pool "
                     f"(a blend must gain {BLEND_MIN_GAIN}; ties go to the simpler model)",
        "fit_seconds": round(time.perf_counter() - started, 2),
        "sklearn_version": sklearn.__version__, "lightgbm_version": lgb.__version__,
    }
    return model


def _assemble(choice, weights, numeric, categorical, categories, cal, fitted) -> TrainedModel:
    algorithm = "blend" if choice.startswith("blend_") else choice
    return TrainedModel(algorithm=algorithm, feature_columns=[*numeric, *categorical], numeric_columns=numeric,
                        categorical_columns=categorical, categories=categories, weights=weights, calibrator=cal,
                        metrics={}, candidates={}, curves={}, train_summary={}, lr=fitted.get("lr"),
                        booster=fitted.get("booster"))
