import numpy as np
import pandas as pd
import pytest

from churn_workbench.segments import assign_segments


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
