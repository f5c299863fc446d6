import numpy as np
import pandas as pd
import pytest

from churn_workbench.segments import assign_segments, segment_lift


def test_segment_shares_validated():
    with pytest.raises(ValueError, match="shares"):
        assign_segments(pd.Series([0.5]), high_share=0.8, medium_share=0.3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        assign_segments(pd.Series([1.5]))
    with pytest.raises(ValueError, match="budget"):
        assign_segments(pd.Series([0.5]), high_budget=-1)


def test_segments_rank_by_share():
    rng = np.random.default_rng(0)
    p = pd.Series(rng.random(1000), index=[f"C{i:04d}" for i in range(1000)])
    seg = assign_segments(p, high_share=0.1, medium_share=0.2)
    assert seg.value_counts().to_dict() == {"Low": 700, "Medium": 200, "High": 100}
    assert p[seg == "High"].min() >= p[seg == "Medium"].max() >= p[seg == "Medium"].min() >= p[seg == "Low"].max()
    # Low churn everywhere still yields a High segment: ranks, not fixed cut-offs.
    small = assign_segments(p * 0.05, high_share=0.1, medium_share=0.2)
    assert (small == "High").sum() == 100
    # Order-free: shuffling the rows gives every customer the same segment.
    shuffled = p.sample(frac=1, random_state=1)
    assert assign_segments(shuffled, high_share=0.1, medium_share=0.2).reindex(seg.index).equals(seg)


def test_segments_by_expected_loss_and_budget():
    p = pd.Series([0.9, 0.5, 0.4, 0.1, np.nan], index=list("abcde"))
    value = pd.Series([10.0, 100.0, 30.0, 1000.0, 5.0], index=list("abcde"))
    seg = assign_segments(p, value, high_share=0.25, medium_share=0.25)
    assert seg["d"] == "High" and seg["b"] == "Medium" and pd.isna(seg["e"])  # 0.1 x 1000 is the largest loss
    capped = assign_segments(pd.Series(np.linspace(0, 1, 100)), high_share=0.5, medium_share=0.1, high_budget=7)
    assert (capped == "High").sum() == 7 and (capped == "Medium").sum() == 10


def test_segment_lift():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    p = np.linspace(1, 0, 10)
    seg = assign_segments(pd.Series(p), high_share=0.2, medium_share=0.3)
    table = segment_lift(y, p, seg).set_index("segment")
    assert table.loc["High", "rows"] == 2 and table.loc["High", "lift"] == pytest.approx(1.0 / 0.3)
    assert table["share_of_churners"].sum() == pytest.approx(1.0)
