"""Calibration of a log-odds score: none, Platt's sigmoid or isotonic, chosen by evidence.

A calibrator is a plain dict (JSON-safe, saved inside the model file):
    {"method": "none"}                                   p = sigmoid(raw)
    {"method": "sigmoid", "a": a, "b": b}                p = sigmoid(a * raw + b)
    {"method": "isotonic", "x": [...], "y": [...]}       p = interp(raw, x, y) (monotone, through
                                                         the centres of the isotonic blocks)

`choose` compares the three on out-of-fold scores by cross-validated log loss. Isotonic is only
a candidate with at least ISOTONIC_MIN_POSITIVES positives (with fewer it collapses the scores to a
handful of steps and costs ranking quality), and a fitted map must beat "none" by MIN_GAIN:
boosting trained on log loss is often calibrated already, and a needless map only adds noise.
"""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ISOTONIC_MIN_POSITIVES = 1000
MIN_GAIN = 0.0005  # mean log-loss improvement a fitted map needs over the next simpler method
MAX_ISOTONIC_POINTS = 400
EPS = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def fit(method: str, raw: np.ndarray, y: np.ndarray) -> dict:
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    if method == "none":
        return {"method": "none"}
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw[:, None], y)
        return {"method": "sigmoid", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(raw, y)
        # Interpolate between the centres of the flat blocks, not their ends: the map stays
        # monotone but strictly increasing between blocks, so it does not collapse the ranking
        # into a few steps (the cause of lost AUC with plain isotonic on few positives).
        v_unique, inverse = np.unique(iso.y_thresholds_, return_inverse=True)
        x = np.bincount(inverse, weights=iso.X_thresholds_) / np.bincount(inverse)
        v = v_unique
        if len(x) > MAX_ISOTONIC_POINTS:
            keep = np.unique(np.linspace(0, len(x) - 1, MAX_ISOTONIC_POINTS).round().astype(int))
            x, v = x[keep], v[keep]
        return {"method": "isotonic", "x": [float(a) for a in x], "y": [float(b) for b in v]}
    raise ValueError(f"unknown calibration method {method!r}")


def apply(calibrator: dict, raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=float)
    method = calibrator["method"]
    if method == "none":
        return _sigmoid(raw)
    if method == "sigmoid":
        return _sigmoid(calibrator["a"] * raw + calibrator["b"])
    if method == "isotonic":
        return np.interp(raw, calibrator["x"], calibrator["y"])
    raise ValueError(f"unknown calibration method {method!r}")


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def choose(raw: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[str, dict]:
    """(method, evidence) from out-of-fold scores `raw` (log-odds) and labels y.

    evidence: per candidate method, the 5-fold cross-validated log loss of the calibrated scores;
    plus the positive count and why isotonic was or was not considered.
    """
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    positives = int(y.sum())
    methods = ["none", "sigmoid"] + (["isotonic"] if positives >= ISOTONIC_MIN_POSITIVES else [])
    folds = max(2, min(5, positives, len(y) - positives))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    losses = {m: [] for m in methods}
    for fit_idx, val_idx in splitter.split(raw.reshape(-1, 1), y):
        for m in methods:
            cal = fit(m, raw[fit_idx], y[fit_idx])
            losses[m].append(_log_loss(y[val_idx], apply(cal, raw[val_idx])))
    mean = {m: float(np.mean(v)) for m, v in losses.items()}
    chosen = "none"
    for m in methods[1:]:  # in order of flexibility: a more flexible map must earn its place
        if mean[m] < mean[chosen] - MIN_GAIN:
            chosen = m
    evidence = {"cv_log_loss": {m: round(v, 5) for m, v in mean.items()}, "positives": positives,
                "isotonic_considered": "isotonic" in methods,
                "rule": f"lowest {folds}-fold log loss on out-of-fold scores; a fitted map must gain {MIN_GAIN}; "
                        f"isotonic only with >= {ISOTONIC_MIN_POSITIVES} positives"}
    return chosen, evidence


def cross_fitted(method: str, raw: np.ndarray, y: np.ndarray, folds) -> np.ndarray:
    """Calibrated probabilities for out-of-fold scores, each fold mapped by a calibrator fitted on
    the other folds (so no row's own label shapes its probability), shape (n,)."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    out = np.empty(len(raw))
    for fit_idx, val_idx in folds:
        out[val_idx] = apply(fit(method, raw[fit_idx], y[fit_idx]), raw[val_idx])
    return out
