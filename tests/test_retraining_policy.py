"""The retraining policy: a deployed model is kept while little of its labelled data changed,
none of its customers left and its quality on the changed rows holds; anything else retrains."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_workbench.model import retraining


def _frame(n: int, shift: dict[int, float] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    X = pd.DataFrame({"charges": np.arange(n, dtype=float), "plan": ["a", "b"] * (n // 2)},
                     index=pd.Index([f"C{i:04d}" for i in range(n)], name="customer_id"))
    for i, delta in (shift or {}).items():
        X.iloc[i, 0] += delta
    return X, pd.Series([i % 2 for i in range(n)], index=X.index, dtype="Int64")


def _change(tmp_path, trained_n=200, current_n=200, shift=None):
    X, y = _frame(trained_n)
    path = tmp_path / "model.skops"
    retraining.save_rows(retraining.row_hashes(X, y), path)
    X2, y2 = _frame(current_n, shift)
    return retraining.change(retraining.load_rows(path), retraining.row_hashes(X2, y2))


def test_the_change_counts_new_changed_and_gone_customers(tmp_path):
    same = _change(tmp_path)
    assert (same.rows, same.gone, same.trained) == (0, 0, 200)
    edited = _change(tmp_path, shift={3: 1.0, 7: 2.0})
    assert edited.rows == 2 and edited.new_or_changed.nonzero()[0].tolist() == [3, 7]
    grown = _change(tmp_path, current_n=210)
    assert (grown.rows, grown.gone) == (10, 0)
    shrunk = _change(tmp_path, current_n=190)
    assert (shrunk.rows, shrunk.gone) == (10, 10)


def _decide(change, quality=None, retrain="auto", max_change=0.05):
    return retraining.decide(change, max_change, quality, (0.75, [0.72, 0.78]), 0.005, 0.6, retrain)


def test_a_small_change_keeps_the_model_and_says_why(tmp_path):
    change = _change(tmp_path, shift={3: 1.0})
    kept = _decide(change)
    assert kept.keep and "0.50% of its 200 labelled rows changed" in kept.reason and "too few" in kept.reason
    assert kept.details["changed_rows"] == 1
    held = _decide(change, quality=(0.74, 60, 90))
    assert held.keep and "holds" in held.reason
    # 0.70 on 150 rows: its interval reaches 0.78, so no evidence of a drop; on 6,000 rows there is.
    assert _decide(change, quality=(0.70, 60, 90)).keep


def test_a_large_change_a_customer_gone_bad_quality_or_force_retrain(tmp_path):
    assert not _decide(_change(tmp_path, shift={i: 1.0 for i in range(10)})).keep        # 5%: not below 5%
    gone = _decide(_change(tmp_path, current_n=198))
    assert not gone.keep and "left the training data" in gone.reason
    worse = _decide(_change(tmp_path, shift={3: 1.0}), quality=(0.70, 2400, 3600))
    assert not worse.keep and "below its recorded interval" in worse.reason
    forced = _decide(_change(tmp_path), retrain="always")
    assert not forced.keep and "--retrain always" in forced.reason
    assert not _decide(None).keep                                                        # no rows on record
    assert not _decide(_change(tmp_path, shift={3: 1.0}), max_change=0.0).keep           # 0 = any change retrains


def test_the_monitored_interval_narrows_with_more_rows():
    assert retraining.auc_upper(0.72, 400, 924) == pytest.approx(0.7516, abs=0.001)
    assert retraining.auc_upper(0.72, 40, 60) > retraining.auc_upper(0.72, 400, 600) > 0.72
