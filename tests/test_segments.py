import numpy as np
import pandas as pd
import pytest

from churn_workbench.segments import assign_segments, control_group


def test_segments_follow_thresholds():
    prob = pd.Series([0.0, 0.29, 0.3, 0.59, 0.6, 1.0, np.nan], index=list("abcdefg"))
    seg = assign_segments(prob, high=0.6, medium=0.3)
    assert seg.index.equals(prob.index)
    assert seg.iloc[:6].tolist() == ["Low", "Low", "Medium", "Medium", "High", "High"]
    assert pd.isna(seg["g"])
    rng = np.random.default_rng(0)
    p = pd.Series(rng.random(10_000))
    seg = assign_segments(p, 0.7, 0.4)
    assert (seg[p >= 0.7] == "High").all() and (seg[(p >= 0.4) & (p < 0.7)] == "Medium").all()
    assert (seg[p < 0.4] == "Low").all()


def test_segment_thresholds_validated():
    with pytest.raises(ValueError, match="medium <= high"):
        assign_segments(pd.Series([0.5]), high=0.3, medium=0.6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        assign_segments(pd.Series([1.5]), high=0.6, medium=0.3)


def test_control_group_is_deterministic_and_order_free():
    ids = [f"C{i:07d}" for i in range(20_000)]
    first = control_group(ids, 0.1, seed=7)
    again = control_group(list(reversed(ids)), 0.1, seed=7)
    assert first.dtype == bool and first.index.name == "customer_id"
    assert first.equals(again.reindex(first.index))
    subset = control_group(ids[:500], 0.1, seed=7)
    assert subset.equals(first.iloc[:500])  # membership does not depend on who else is in the file
    assert abs(first.mean() - 0.1) < 0.01
    other = control_group(ids, 0.1, seed="another-seed")
    assert (first != other).mean() > 0.1
    assert not control_group(ids, 0.0, seed=7).any()
    assert abs(control_group(ids, 0.5, seed=7).mean() - 0.5) < 0.02


def test_control_group_share_validated():
    with pytest.raises(ValueError, match="share"):
        control_group(["a"], 1.0, seed=1)
    with pytest.raises(ValueError, match="share"):
        control_group(["a"], -0.1, seed=1)
