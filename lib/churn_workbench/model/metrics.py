"""Held-out metrics: ROC-AUC, PR-AUC, Brier, log loss and ECE with bootstrap CIs, plus curves.

Pure functions on arrays: labels y (0/1) and probabilities p, both shape (n,).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve

N_BOOTSTRAP = 500
ECE_BINS = 10


def expected_calibration_error(y, p, bins: int = ECE_BINS) -> float:
    """ECE over `bins` equal-count bins of p: sum_b (n_b / n) * |mean(p_b) - mean(y_b)|."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    total = 0.0
    for part in np.array_split(order, min(bins, len(order))):
        if len(part):
            total += len(part) * abs(p[part].mean() - y[part].mean())
    return float(total / len(y))


def _by_threshold(y: np.ndarray, p: np.ndarray, w: np.ndarray, presorted: bool):
    """Rows sorted by descending score, tied scores merged into one threshold: the weighted
    positive and negative counts per threshold, shape (b, thresholds), and the sorted y, p, w."""
    if presorted:  # p is already in descending order
        ys, ps = y.astype(float), p
    else:
        order = np.argsort(-p, kind="mergesort")
        ys, ps, w = y[order].astype(float), p[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, np.diff(ps) != 0])
    return np.add.reduceat(w * ys, starts, axis=1), np.add.reduceat(w * (1 - ys), starts, axis=1), ys, ps, w


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    fp = np.cumsum(neg, axis=1)
    P, N = pos.sum(axis=1), fp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (N[:, None] - fp + 0.5 * neg)).sum(axis=1) / (P * N)
    return np.where((P > 0) & (N > 0), auc, np.nan)


def weighted_roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray, presorted: bool = False) -> np.ndarray:
    """ROC-AUC under each row of weights w (b, n): shape (b,), NaN where a class has no weight."""
    pos, neg, *_ = _by_threshold(y, p, w, presorted)
    return _auc(pos, neg)


def _weighted_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, presorted: bool = False) -> dict[str, np.ndarray]:
    """ROC-AUC, average precision and Brier score under row weights, for many weight vectors at once.

    y, p: shape (n,). w: shape (b, n), non-negative. Returns arrays of shape (b,) (NaN where a
    replicate has no positive or no negative). Ties are handled as sklearn does: tied scores form
    one threshold, and a tied positive/negative pair counts 1/2 in the AUC.
    """
    pos, neg, ys, ps, w = _by_threshold(y, p, w, presorted)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    P = tp[:, -1]
    valid = (P > 0) & (fp[:, -1] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (pos * precision).sum(axis=1) / P
        brier = (w @ ((ps - ys) ** 2)) / w.sum(axis=1)
    return {"roc_auc": _auc(pos, neg), "pr_auc": np.where(valid, ap, np.nan), "brier": brier}


def bootstrap_counts(n: int, n_boot: int, seed: int):
    """Bootstrap resamples of n rows as multinomial row counts, in batches of shape (b, n) (about
    2M cells each, so memory stays flat however many rows there are)."""
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    for done in range(0, n_boot, batch):
        b = min(batch, n_boot - done)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(float)


def _bootstrap(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the metrics.

    A resample is expressed as multinomial row counts, so each replicate costs O(n) on rows sorted
    once by score instead of a fresh sort: 500 replicates of 50k rows take about a second.
    """
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    parts = [_weighted_metrics(y, p, counts, presorted=True) for counts in bootstrap_counts(len(y), n_boot, seed)]
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
        "ece": expected_calibration_error(y, p),
        "base_rate": float(y.mean()),
        "evaluation_rows": int(len(y)),
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
