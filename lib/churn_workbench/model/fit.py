"""Training: leakage guard, model selection by cross-validation, calibration by evidence,
out-of-fold metrics over every labelled row, then a final fit on all of them.

How `train` works (each choice is recorded in `TrainedModel.train_summary`):

1. Rows with an unknown label are ignored; at least MIN_LABELLED labelled rows and MIN_PER_CLASS
   of each class are required (`TrainingError` otherwise; the train stage asks for more, see the
   `WORKBENCH_MODEL_MIN_*` settings).
2. Blank or constant columns are dropped; the leakage guard (`leakage.screen`) excludes id-like
   columns, label look-alikes and single-column oracles, one warning line each.
3. The training rows are all labelled rows (a stratified subsample above `max_train_rows`).
   Candidates are cross-validated on them (at most MAX_COMPARE_ROWS, a stratified subsample; 5
   folds below 10k rows, else 3), all on the same folds: the L2 logistic regression; LightGBM in
   each small-data configuration of `estimators.LGBM_GRID` with early stopping (the best by
   out-of-fold log loss is LightGBM's entry); CatBoost (`catboost_part`); and blends of a booster's
   log-odds with the logistic regression's, and of the two boosters. The simplest candidate within
   one standard error of the highest mean per-fold ROC-AUC wins (the standard error of the paired
   per-fold differences, at least MIN_GAIN): on small tables a booster must beat the logistic
   regression by more than the noise between folds; on large ones the best simply wins.
4. Calibration (none / sigmoid / isotonic) is chosen on the winner's out-of-fold scores by
   cross-validated log loss and the positive count (`calibration.choose`).
5. Evidence: out-of-fold predictions over every evaluated row give the reported metrics (bootstrap
   95% CIs) and the ROC-AUC the quality gate weighs. Up to NESTED_MAX_ROWS rows they come from a
   nested cross-validation: in each fold the whole procedure (comparison, choice, early stopping,
   calibration) runs on the other folds only. Above it, from the winner's out-of-fold scores (each
   fold calibrated on the others), with the gate's ROC-AUC lowered by the optimism of picking the
   best of all candidates and configurations tried (`evidence.selected_auc`); large tables leave
   little room for that optimism, and nesting would cost k times the selection.
6. The winner is fitted on all training rows with the settings chosen by cross-validation, its
   calibrator fitted on all out-of-fold scores. The evidence therefore describes the procedure on
   (k-1)/k of the evaluated rows; the deployed model saw all of them.
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
from . import calibration, catboost_part, estimators, evidence, leakage
from .core import ALGORITHMS, COMPONENTS, TrainedModel, combine, id_hashes, raw_parts
from .metrics import evaluate
from .prep import fit_categories, prepare, split_columns, to_matrix

MIN_LABELLED = 20
MIN_VALUES = 20  # a feature with fewer non-blank labelled values than this is dropped
MIN_PER_CLASS = 5
MAX_COMPARE_ROWS = 30_000  # model selection by CV: enough rows to rank the candidates; the final fit uses all
BLEND_WEIGHTS = (0.3, 0.5, 0.7)  # the booster's share of a blend with the logistic regression
MIN_GAIN = 0.001  # a more complex candidate must beat a simpler one by at least this (and one standard error)
NESTED_MAX_ROWS = 600  # up to here the evidence is nested (affordable, and needed); WORKBENCH_MODEL_NESTED_MAX_ROWS
MAX_REFIT_FACTOR = 1.25  # the final fit sees more rows than a CV fold: a few more rounds, within limits
BOOSTERS = ("lightgbm", "catboost")


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


def _folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_min = int(min(y.sum(), len(y) - y.sum()))
    k = max(2, min(5 if len(y) < 10_000 else 3, n_min))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _cross_validate(Xp, y, folds, numeric, categorical, categories, algorithms, seed):
    """(out-of-fold log-odds per candidate, CV results per candidate, every configuration's
    out-of-fold log-odds). All candidates use the same folds."""
    oof: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    tried_scores: dict[str, np.ndarray] = {}
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
        started = time.perf_counter()
        M = to_matrix(Xp, numeric, categorical, categories)
        cat_idx = list(range(len(numeric), len(numeric) + len(categories)))
        grid = estimators.LGBM_GRID if len(y) <= 20_000 else estimators.LGBM_GRID[2:]
        best = None
        tried = []
        for config in grid:
            t = time.perf_counter()
            raw, rounds, loss = estimators.lgb_cv(M, y, folds, config, seed, cat_idx)
            tried.append({**config, "rounds": rounds, "cv_log_loss": round(loss, 5),
                          "seconds": round(time.perf_counter() - t, 2)})
            tried_scores[f"lightgbm {config['num_leaves']} leaves"] = raw
            if best is None or loss < best[2]:
                best = (raw, rounds, loss, config)
        oof["lightgbm"] = best[0]
        info["lightgbm"] = {"config": best[3], "rounds": best[1], "configs_tried": tried,
                            "seconds": round(time.perf_counter() - started, 2)}
    if "catboost" in algorithms:
        started = time.perf_counter()
        raw, rounds, loss = catboost_part.cv(Xp, y, folds, numeric, categorical, seed)
        oof["catboost"] = raw
        info["catboost"] = {"rounds": rounds, "cv_log_loss": round(loss, 5),
                            "learning_rate": catboost_part.learning_rate(len(folds[0][0])),
                            "seconds": round(time.perf_counter() - started, 2)}
    singles = dict(oof)
    if "blend" in algorithms and "logistic_regression" in singles:
        for booster in (b for b in BOOSTERS if b in singles):
            for w in BLEND_WEIGHTS:
                weights = {booster: w, "logistic_regression": round(1 - w, 6)}
                oof[_blend_name(weights)] = w * singles[booster] + (1 - w) * singles["logistic_regression"]
    if "blend" in algorithms and set(BOOSTERS) <= set(singles):
        oof[_blend_name({"lightgbm": 0.5, "catboost": 0.5})] = 0.5 * singles["lightgbm"] + 0.5 * singles["catboost"]
    scores = {}
    for name, raw in oof.items():
        aucs = [roc_auc_score(y[v], raw[v]) for _, v in folds]
        scores[name] = {"cv_roc_auc_mean": round(float(np.mean(aucs)), 5),
                        "cv_roc_auc_std": round(float(np.std(aucs)), 5),
                        "cv_roc_auc_folds": [round(float(a), 5) for a in aucs],
                        "cv_rows": int(len(y)), "cv_folds": len(folds), "weights": _weights(name), **info.get(name, {})}
    # What the selection chose among, for the optimism correction: every candidate, and every
    # LightGBM configuration (its entry was picked from them on the same rows).
    pool = {**oof, **{k: v for k, v in tried_scores.items() if not any(v is s for s in oof.values())}}
    return oof, scores, pool


def _blend_name(weights: dict) -> str:
    return "blend " + " + ".join(f"{k} {v:g}" for k, v in weights.items())


def _weights(name: str) -> dict:
    if name.startswith("blend "):
        parts = [p.rsplit(" ", 1) for p in name[len("blend "):].split(" + ")]
        return {k: float(v) for k, v in parts}
    return {name: 1.0}


def _complexity(name: str) -> tuple:
    """Simplest first: the logistic regression, LightGBM, CatBoost, then blends by booster share."""
    weights = _weights(name)
    booster_share = sum(w for k, w in weights.items() if k != "logistic_regression")
    return (len(weights) > 1, booster_share, [COMPONENTS.index(k) for k in weights])


def _choose(scores: dict) -> str:
    """The simplest candidate whose mean fold ROC-AUC is within one standard error of the best's
    (the one-standard-error rule, with the error of the paired per-fold differences: on large
    tables it shrinks and the best wins), or within MIN_GAIN of it in any case."""
    best = max(scores, key=lambda a: scores[a]["cv_roc_auc_mean"])
    top = np.asarray(scores[best]["cv_roc_auc_folds"])
    for name in sorted(scores, key=_complexity):
        diff = top - np.asarray(scores[name]["cv_roc_auc_folds"])
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if diff.mean() <= max(se, MIN_GAIN):
            return name
    return best


def _fit_components(components, Xp, y, numeric, categorical, categories, rounds: dict, seed: int,
                    cv_rows: int) -> dict:
    fitted = {}
    if "logistic_regression" in components:
        fitted["lr"] = estimators.lr_fit(estimators.lr_pipeline(numeric, categorical, len(Xp)), Xp, y)
    if "lightgbm" in components:
        M = to_matrix(Xp, numeric, categorical, categories)
        cat_idx = list(range(len(numeric), len(numeric) + len(categories)))
        fitted["booster"] = estimators.lgb_fit(M, y, rounds["lightgbm_config"], rounds["lightgbm"], seed, cat_idx)
    if "catboost" in components:
        fitted["catboost"] = catboost_part.fit(Xp, y, numeric, categorical, rounds["catboost"], seed, cv_rows)
    return fitted


class _Selection:
    """The procedure on some rows: candidates cross-validated, the winner chosen and calibrated,
    the rounds its final fit needs. The same object scores the rows for the evidence and, run
    inside each outer fold, gives the nested evaluation."""

    def __init__(self, Xp, y, numeric, categorical, categories, algorithms, seed):
        self.numeric, self.categorical, self.categories, self.seed = numeric, categorical, categories, seed
        self.folds = _folds(y, seed)
        self.oof, self.scores, self.pool = _cross_validate(Xp, y, self.folds, numeric, categorical, categories,
                                                           algorithms, seed)
        self.choice = _choose(self.scores)
        self.weights = _weights(self.choice)
        self.method, self.calibration_evidence = calibration.choose(self.oof[self.choice], y, seed=seed)
        self.calibrator = calibration.fit(self.method, self.oof[self.choice], y)
        self.fold_rows = len(y) - len(self.folds[0][1])

    def rounds(self, n_rows: int) -> dict:
        """Rounds for a final fit on n_rows: the folds' shared round, a few more for more rows."""
        factor = min(n_rows / max(self.fold_rows, 1), MAX_REFIT_FACTOR)
        lgb_info, cb_info = self.scores.get("lightgbm", {}), self.scores.get("catboost", {})
        return {"lightgbm_config": lgb_info.get("config"),
                "lightgbm": int(round(lgb_info["rounds"] * factor)) if lgb_info.get("rounds") else None,
                "catboost": int(round(cb_info["rounds"] * factor)) if cb_info.get("rounds") else None}

    def fit(self, Xp, y) -> TrainedModel:
        fitted = _fit_components(tuple(self.weights), Xp, y, self.numeric, self.categorical, self.categories,
                                 self.rounds(len(y)), self.seed, self.fold_rows)
        return _assemble(self.choice, self.weights, self.numeric, self.categorical, self.categories,
                         self.calibrator, fitted)


def _nested(Xp, y, folds, numeric, categorical, categories, algorithms, seed) -> np.ndarray:
    """Out-of-fold probabilities of the whole procedure: in each outer fold, candidates compared,
    the winner chosen, tuned, calibrated and fitted on the other folds only, then used to score
    the fold. Nothing the fold's labels could sway touches its scores, which cross-validating the
    candidates alone cannot promise on small tables (early stopping and the choice among
    candidates read the same rows the figure is measured on)."""
    p = np.zeros(len(y))
    for fit_idx, val_idx in folds:
        inner = _Selection(Xp.iloc[fit_idx], y[fit_idx], numeric, categorical, categories, algorithms, seed)
        fitted = inner.fit(Xp.iloc[fit_idx], y[fit_idx])
        p[val_idx] = calibration.apply(fitted.calibrator, combine(fitted.weights, raw_parts(fitted, Xp.iloc[val_idx])))
    return p


def train(X: pd.DataFrame, y: pd.Series, seed: int = 0, max_train_rows: int = 200_000,
          algorithms: tuple[str, ...] = ALGORITHMS, label_name: str = "churned", allow_columns=(),
          sensitive_columns=(), nested_max_rows: int = NESTED_MAX_ROWS) -> TrainedModel:
    """Fit, compare, calibrate and evaluate a churn model (see the module docstring).

    X: (n_customers, n_features) DataFrame, index customer_id; numeric columns are numbers,
       anything else is a category. Identifier and sensitive columns must not be in X.
    y: 0/1 labels (NA = unknown, ignored), indexed like X.
    algorithms: the candidates ("blend" blends those of the others that are present).
    allow_columns: columns the leakage guard keeps although they look like leakage.
    sensitive_columns: recorded on the model so they are never reported as drivers.
    nested_max_rows: up to this many evaluated rows the evidence is nested (step 5); 0 = never.
    """
    unknown = set(algorithms) - set(ALGORITHMS)
    if unknown or not set(algorithms) & set(COMPONENTS):
        raise ValueError(f"algorithms must be a subset of {ALGORITHMS} with at least one of {COMPONENTS}")
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

    X_train, y_train = Xp, y_lab
    subsampled = len(X_train) > max_train_rows
    if subsampled:
        X_train, _, y_train, _ = train_test_split(X_train, y_train, train_size=max_train_rows, stratify=y_train,
                                                  random_state=seed)
    if len(X_train) > MAX_COMPARE_ROWS:
        X_cmp, _, y_cmp, _ = train_test_split(X_train, y_train, train_size=MAX_COMPARE_ROWS, stratify=y_train,
                                              random_state=seed)
    else:
        X_cmp, y_cmp = X_train, y_train
    categories = fit_categories(X_train, categorical)
    y_cmp_a = y_cmp.to_numpy()
    sel = _Selection(X_cmp, y_cmp_a, numeric, categorical, categories, algorithms, seed)
    for name in sel.scores:
        sel.scores[name]["chosen"] = name == sel.choice
    p_oof = calibration.cross_fitted(sel.method, sel.oof[sel.choice], y_cmp_a, sel.folds)
    corrected = evidence.selected_auc(y_cmp_a, sel.pool, sel.choice, seed=seed)
    nested = len(y_cmp_a) <= nested_max_rows
    if nested:  # small tables: the figures come from the whole procedure, nested
        p_oof = _nested(X_cmp, y_cmp_a, sel.folds, numeric, categorical, categories, algorithms, seed)
    metrics, curves = evaluate(y_cmp_a, p_oof, seed=seed)
    metrics.update(evidence="nested cross-validation of the whole procedure" if nested else
                   "out-of-fold predictions of the chosen candidate, less the optimism of the choice (BBC-CV)",
                   gate_roc_auc=metrics["roc_auc"] if nested else corrected["roc_auc"],
                   gate_roc_auc_ci95=metrics["roc_auc_ci95"] if nested else corrected["ci"],
                   roc_auc_chosen_candidate=corrected["raw_roc_auc"],
                   selection_optimism=corrected["raw_roc_auc"] - metrics["roc_auc"] if nested else corrected["optimism"],
                   candidates_compared=corrected["candidates"], positives=corrected["positives"])

    # The final fit on every training row, with a few more rounds than a CV fold needed.
    model = sel.fit(X_train, y_train.to_numpy())
    if model.lr is not None:
        model.lr_mean = estimators.lr_encoded_mean(model.lr, X_train)
    model.sensitive_columns = list(sensitive_columns)
    model.trained_ids = np.sort(id_hashes(X_train.index))
    model.metrics = metrics
    model.curves = curves
    model.candidates = sel.scores

    evaluated = X_cmp.copy()
    evaluated.insert(0, "probability", p_oof)
    evaluated.insert(0, "label", y_cmp_a)
    model.oof = evaluated
    final_rounds = sel.rounds(len(X_train))
    versions = {"sklearn_version": sklearn.__version__, "lightgbm_version": lgb.__version__,
                "catboost_version": catboost_part.version()}
    model.train_summary = {
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows_total": int(len(X)), "rows_labelled": n_lab, "rows_unlabelled_ignored": int(len(X) - n_lab),
        "rows_train": int(len(X_train)), "rows_evaluated": int(len(X_cmp)), "folds": len(sel.folds),
        "train_subsampled": bool(subsampled), "max_train_rows": int(max_train_rows),
        "label_rate": round(float(y_lab.mean()), 5), "label_rate_train": round(float(y_train.mean()), 5),
        "seed": int(seed), "calibration": sel.method, "calibration_evidence": sel.calibration_evidence,
        "dropped_columns": dropped, "leakage_warnings": leakage_lines, "nested_evaluation": nested,
        "lightgbm_rounds_final": final_rounds["lightgbm"] if "lightgbm" in sel.weights else None,
        "lightgbm_config": final_rounds["lightgbm_config"] if "lightgbm" in sel.weights else None,
        "catboost_rounds_final": final_rounds["catboost"] if "catboost" in sel.weights else None,
        "selection": "the simplest candidate within one standard error (of the paired per-fold differences, "
                     f"and at least {MIN_GAIN}) of the highest mean cross-validated ROC-AUC",
        "fit_seconds": round(time.perf_counter() - started, 2), **versions,
    }
    return model


def _assemble(choice, weights, numeric, categorical, categories, cal, fitted) -> TrainedModel:
    algorithm = "blend" if choice.startswith("blend ") else choice
    return TrainedModel(algorithm=algorithm, feature_columns=[*numeric, *categorical], numeric_columns=numeric,
                        categorical_columns=categorical, categories=categories, weights=weights, calibrator=cal,
                        metrics={}, candidates={}, curves={}, train_summary={}, lr=fitted.get("lr"),
                        booster=fitted.get("booster"), catboost=fitted.get("catboost"))
