"""When a nightly run keeps the deployed model instead of training a new one.

The policy (documented in the README, "Nightly runs"): the deployed model of the data's contract
stays deployed while

1. less than `WORKBENCH_RETRAIN_MAX_CHANGE` of the labelled rows it was trained on are new,
   changed or gone (a row is one customer's features and label; feedback features included);
2. no customer it learnt from has left the training data (erased, profiling consent withdrawn,
   removed from the input): a model is never kept on data a customer took back;
3. its quality holds on the rows that did change: there is no evidence that its ROC-AUC on the
   new or changed labelled rows (which it never saw as they are now) fell below its record --
   the upper end of that ROC-AUC's 95% interval (Hanley & McNeil's standard error) is not below
   the lower end of its recorded 95% interval by more than `WORKBENCH_MODEL_GATE_TOLERANCE`, nor
   below `WORKBENCH_MODEL_MIN_AUC`.
   With too few such rows to measure (fewer than MIN_ROWS, or MIN_PER_CLASS of a class) the
   small change alone decides, and the decision says so.

Anything else retrains (and the new model meets the usual quality gate); `--retrain always`
retrains whatever changed. The rows a model was trained on are kept beside its file as sorted
uint64 hashes (`training_rows.npy`: customer-id hash, row hash), the same pseudonymous form the
model file keeps its customers in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .core import id_hashes

ROWS_FILE = "training_rows.npy"
MIN_ROWS = 100
MIN_PER_CLASS = 20


def row_hashes(X: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """(n, 2) uint64, in X's order: per labelled row, the hash of its customer id and the hash of
    the whole row (id, every feature, the label)."""
    rows = pd.util.hash_pandas_object(X.assign(**{"\0label": y.astype("Float64").to_numpy()}), index=True).to_numpy()
    return np.column_stack([id_hashes(X.index), rows]).astype(np.uint64)


def save_rows(rows: np.ndarray, model_path: Path) -> Path:
    path = Path(model_path).parent / ROWS_FILE
    np.save(path, rows[np.argsort(rows[:, 1], kind="stable")], allow_pickle=False)
    return path


def load_rows(model_path: Path) -> np.ndarray | None:
    """The deployed model's training rows, or None (a model trained before they were kept)."""
    path = Path(model_path).parent / ROWS_FILE
    if not path.exists():
        return None
    rows = np.load(path, allow_pickle=False)
    return rows if rows.ndim == 2 and rows.shape[1] == 2 and rows.dtype == np.uint64 else None


@dataclass
class Change:
    """How the labelled data differs from what a model was trained on."""

    trained: int                  # labelled rows the model was trained on
    new_or_changed: np.ndarray    # boolean mask over the current labelled rows
    gone: int                     # customers it learnt from who are no longer in the training data

    @property
    def rows(self) -> int:
        return int(self.new_or_changed.sum()) + self.gone

    @property
    def share(self) -> float:
        return self.rows / max(self.trained, 1)


def change(trained_rows: np.ndarray, current_rows: np.ndarray) -> Change:
    """`current_rows`: row_hashes of the current labelled frame (the mask follows its order)."""
    known = np.isin(current_rows[:, 1], trained_rows[:, 1])
    gone = int((~np.isin(trained_rows[:, 0], current_rows[:, 0])).sum())
    return Change(trained=len(trained_rows), new_or_changed=~known, gone=gone)


@dataclass
class Decision:
    keep: bool
    reason: str
    details: dict = field(default_factory=dict)


def auc_upper(auc: float, positives: int, negatives: int) -> float:
    """Upper end of a ROC-AUC's 95% interval (Hanley & McNeil 1982 standard error)."""
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc ** 2) + (negatives - 1) * (q2 - auc ** 2)) \
        / max(positives * negatives, 1)
    return auc + 1.96 * math.sqrt(max(var, 0.0))


def decide(change_: Change | None, max_change: float, quality: tuple[float | None, int, int] | None,
           recorded: tuple[float | None, list | None], tolerance: float, floor: float, retrain: str) -> Decision:
    """Keep the deployed model, or retrain (see the module docstring).

    quality: (ROC-AUC of the deployed model on the new or changed rows, or None, their positives,
    their negatives); recorded: the model's recorded gate ROC-AUC and 95% interval.
    """
    if retrain == "always":
        return Decision(False, "retraining asked for (--retrain always)")
    if change_ is None:
        return Decision(False, "the deployed model's training rows are not on record")
    details = {"changed_rows": change_.rows, "new_or_changed": int(change_.new_or_changed.sum()), "gone": change_.gone,
               "trained_rows": change_.trained, "changed_share": round(change_.share, 5), "max_change": max_change}
    share = f"{100 * change_.share:.2f}% of its {change_.trained:,} labelled rows changed"
    if change_.gone:
        return Decision(False, f"{change_.gone:,} customer(s) it learnt from left the training data "
                               "(erased, profiling consent withdrawn or removed)", details)
    if change_.share >= max_change:
        return Decision(False, f"{share}, not below WORKBENCH_RETRAIN_MAX_CHANGE {100 * max_change:g}%", details)
    auc, positives, negatives = quality if quality else (None, 0, 0)
    rows, minority = positives + negatives, min(positives, negatives)
    low = (recorded[1] or [None])[0]
    if auc is None or low is None:
        why = (f"too few new or changed labelled rows to measure its quality ({rows:,}, {minority:,} of the smaller "
               f"class; at least {MIN_ROWS} with {MIN_PER_CLASS} of each needed)") if auc is None \
            else "its recorded ROC-AUC interval is not on record"
        return Decision(True, f"{share} (below {100 * max_change:g}%); {why}", details)
    upper = auc_upper(auc, positives, negatives)
    details.update(monitored_roc_auc=round(auc, 4), monitored_upper=round(upper, 4), monitored_rows=rows,
                   recorded_low=round(low, 4))
    measured = f"its ROC-AUC on the {rows:,} new or changed rows, {auc:.3f} (95% interval up to {upper:.3f}),"
    if upper < low - tolerance or upper < floor:
        return Decision(False, f"{share}, but {measured} lies below its recorded interval's low end {low:.3f} "
                               f"(tolerance {tolerance:.3f}) or the floor {floor:.2f}", details)
    return Decision(True, f"{share} (below {100 * max_change:g}%) and {measured} holds "
                          f"(recorded interval from {low:.3f})", details)
