"""An outcomes file dated in the future is refused in one line naming the column and rows: an
outcome is something observed, and a typo (2062 for 2026) would otherwise be taken in silently."""
from __future__ import annotations

import pandas as pd
import pytest

from churn_workbench import outcomes
from churn_workbench.errors import InputError


def test_an_outcome_observed_in_the_future_is_refused(tmp_path):
    ahead = (pd.Timestamp.now() + pd.Timedelta(days=400)).date().isoformat()
    path = tmp_path / "o.csv"
    path.write_text(f"customer_id,churned,observed_at\nC1,1,2020-01-01\nC2,0,{ahead}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"o\.csv: column 'observed_at' is in the future at row 2"):
        outcomes.read_outcomes(path)


def test_an_outcome_observed_today_is_taken(tmp_path):
    today = pd.Timestamp.now().date().isoformat()
    path = tmp_path / "o.csv"
    path.write_text(f"customer_id,churned,observed_at\nC1,1,{today}\n", encoding="utf-8")
    assert len(outcomes.read_outcomes(path)) == 1
