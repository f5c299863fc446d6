"""How much the data says about a model's ROC-AUC, as intervals the quality gate can weigh.

Evidence comes from out-of-fold predictions over all labelled rows (every row is scored by a
model that never saw it), never from one small held-out slice:

- `selected_auc`: the chosen candidate's ROC-AUC with a percentile-bootstrap interval, both moved
  down by the optimism of having chosen the best of several candidates on the same rows. The
  optimism is estimated by bootstrap bias-corrected cross-validation (BBC-CV, Tsamardinos,
  Greasidou & Borboudakis 2018): in each resample the best candidate is picked on the in-bag rows
  and scored on the out-of-bag rows, which it did not help choose; the mean gap between that
  score and the full-data winner's on the same out-of-bag rows is what choosing on all rows
  flatters the winner by. No refitting is needed: it works on the out-of-fold scores.
- `paired_difference`: two models scored on the same customers, the bootstrap interval of their
  ROC-AUC difference (the same resamples for both, so what they share cancels out).
- `unpaired_difference`: two figures from different rows, each with its own interval (normal
  approximation of the difference).

All functions take labels y (0/1) and scores of shape (n,); a higher score means more likely to churn.
"""
from __future__ import annotations

import math

import numpy as np

from .metrics import bootstrap_counts, weighted_roc_auc

N_BOOTSTRAP = 500
OPTIMISM_CELLS = 10_000_000  # rows x candidates x resamples spent on the selection correction
LEVEL = 0.95


def _sorted_auc(y: np.ndarray, score: np.ndarray):
    """A function of weights (b, n) -> ROC-AUC per row (b,) for one fixed score, sorted once."""
    order = np.argsort(-score, kind="mergesort")
    ys, ss = y[order], score[order]
    return lambda weights: weighted_roc_auc(ys, ss, weights[:, order], presorted=True)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(_sorted_auc(y, score)(np.ones((1, len(y))))[0])


def _percentiles(values: np.ndarray) -> list[float]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return [float("nan"), float("nan")]
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def selected_auc(y, scores: dict[str, np.ndarray], chosen: str, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Evidence for the candidate `chosen` among `scores` (candidate -> out-of-fold scores).

    Returns {"roc_auc": corrected estimate, "ci": [low, high] corrected, "raw_roc_auc": the pooled
    out-of-fold ROC-AUC as measured, "optimism": the correction (>= 0), "candidates": how many
    competed, "rows", "positives", "replicates"}.
    """
    y = np.asarray(y, dtype=int)
    names = list(scores)
    aucs = [_sorted_auc(y, np.asarray(scores[c], dtype=float)) for c in names]
    k = names.index(chosen)
    raw = _auc(y, np.asarray(scores[chosen], dtype=float))
    low, high = _percentiles(np.concatenate([aucs[k](c) for c in bootstrap_counts(len(y), n_boot, seed)]))
    optimism = 0.0
    if len(names) > 1:
        # The gaps are averaged, not ranked, so fewer resamples do on large tables (a fixed budget
        # of cells keeps this to seconds at 30,000 rows).
        replicates = int(np.clip(OPTIMISM_CELLS // (len(y) * len(names)), 40, n_boot))
        gaps = []
        for counts in bootstrap_counts(len(y), replicates, seed + 1):
            in_bag = np.vstack([auc(counts) for auc in aucs])  # (candidates, b)
            out_of_bag = (counts == 0).astype(float)
            oob = np.vstack([auc(out_of_bag) for auc in aucs])
            valid = np.isfinite(in_bag).all(axis=0) & np.isfinite(oob).all(axis=0)
            # The in-bag winner of each resample, judged on rows that did not help choose it.
            honest = oob[np.argmax(np.nan_to_num(in_bag, nan=-1.0), axis=0), np.arange(oob.shape[1])]
            gaps.append((oob[k] - honest)[valid])
        gaps = np.concatenate(gaps)
        optimism = max(0.0, float(gaps.mean())) if len(gaps) else 0.0
    return {"roc_auc": raw - optimism, "ci": [low - optimism, high - optimism], "raw_roc_auc": raw,
            "optimism": optimism, "candidates": len(names), "rows": int(len(y)), "positives": int(y.sum()),
            "replicates": int(n_boot)}


def paired_difference(y, new: np.ndarray, old: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """ROC-AUC of `new` minus that of `old` on the same rows: {"difference", "ci", "new", "old", "rows"}."""
    y = np.asarray(y, dtype=int)
    new, old = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    a_new, a_old = _sorted_auc(y, new), _sorted_auc(y, old)
    diffs = np.concatenate([a_new(c) - a_old(c) for c in bootstrap_counts(len(y), n_boot, seed)])
    a_new, a_old = _auc(y, new), _auc(y, old)
    return {"difference": a_new - a_old, "ci": _percentiles(diffs), "new": a_new, "old": a_old, "rows": int(len(y))}


def unpaired_difference(new: float, new_ci, old: float, old_ci) -> dict:
    """new - old for figures measured on different rows, each with a LEVEL interval."""
    z = 1.959964  # the two-sided 95% normal quantile, matching LEVEL
    se = [(hi - lo) / (2 * z) if ci is not None and all(map(_finite, ci)) else 0.0
          for ci, (lo, hi) in ((new_ci, new_ci or (0, 0)), (old_ci, old_ci or (0, 0)))]
    half = z * math.sqrt(se[0] ** 2 + se[1] ** 2)
    difference = float(new) - float(old)
    return {"difference": difference, "ci": [difference - half, difference + half], "new": float(new), "old": float(old)}


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))
