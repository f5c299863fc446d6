"""A cell of a numeric customers column whose number no float can hold (a 5,000,000-digit number,
1e400, inf, -inf) is refused in one line naming the file, the column and the row, never imported
as missing; a genuinely missing cell (blank, or a missing-value token such as NaN) stays missing,
and a stray text in a numeric column keeps the documented rule (blank, with a warning)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_workbench.errors import InputError
from churn_workbench.inputs import DataConfig, parse_numbers, read_customers
from churn_workbench.inputs.values import read_numbers, type_feature

HUGE = "9" * 5_000_000
UNREPRESENTABLE = {"huge digits": HUGE, "1e400": "1e400", "-1e400": "-1e400", "inf": "inf", "-inf": "-inf",
                   "Infinity": "Infinity", "400 digits": "1" * 400, "thousands": "1" + ",000" * 110,
                   "currency": "$1e400"}


def _customers(tmp_path, cell: str, suffix: str = "csv"):
    rows = [{"customer_id": f"C{i:03d}", "churned": i % 2, "monthly_charges": str(20 + i)} for i in range(60)]
    rows[41]["monthly_charges"] = cell
    path = tmp_path / f"customers.{suffix}"
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    return path


@pytest.mark.parametrize("cell", list(UNREPRESENTABLE.values()), ids=list(UNREPRESENTABLE))
def test_a_number_no_float_can_hold_is_refused_naming_file_column_and_row(tmp_path, cell):
    path = _customers(tmp_path, cell)
    with pytest.raises(InputError) as refused:
        read_customers(path, DataConfig())
    message = str(refused.value)
    assert message.startswith(f"{path}: column 'monthly_charges'") and "at row 42;" in message
    assert "\n" not in message and len(message) < 300  # the value itself is not echoed


@pytest.mark.parametrize("cell", ["", "   ", "NaN", "nan", "NA", "null"])
def test_a_missing_cell_stays_missing(tmp_path, cell):
    table = read_customers(_customers(tmp_path, cell), DataConfig())
    charges = table.frame["monthly_charges"]
    assert np.isnan(charges.iloc[41]) and charges.notna().sum() == 59
    assert not any("monthly_charges" in w for w in table.warnings)


def test_a_stray_text_in_a_numeric_column_is_blank_with_a_warning(tmp_path):
    table = read_customers(_customers(tmp_path, "unknown"), DataConfig())
    assert np.isnan(table.frame["monthly_charges"].iloc[41])
    assert any("monthly_charges" in w and "row 42" in w for w in table.warnings)


def test_an_infinite_value_in_a_parquet_float_column_is_refused(tmp_path):
    rows = pd.DataFrame({"customer_id": [f"C{i}" for i in range(60)], "churned": [i % 2 for i in range(60)],
                         "monthly_charges": [float(i) for i in range(59)] + [np.inf]})
    path = tmp_path / "customers.parquet"
    rows.to_parquet(path)
    with pytest.raises(InputError, match=r"column 'monthly_charges' .* at row 60;"):
        read_customers(path, DataConfig())


def test_a_missing_value_in_a_parquet_float_column_stays_missing(tmp_path):
    series = pd.Series([1.0, np.nan, 3.0])
    assert type_feature(series, "x", "f.parquet").values.isna().tolist() == [False, True, False]


def test_a_text_column_holding_one_infinite_word_stays_a_category():
    typed = type_feature(pd.Series(["a", "b", "inf"] * 30, dtype=object), "x", "f.csv")
    assert typed.kind == "categorical"


def test_read_numbers_keeps_overflow_and_parse_numbers_keeps_its_contract():
    values = np.array(["1e400", "-1e400", "12", "abc", "9" * 1000], dtype=object)
    read = read_numbers(values)
    assert read.tolist()[:3] == [np.inf, -np.inf, 12.0] and np.isnan(read[3]) and read[4] == np.inf
    parsed = parse_numbers(values)
    assert parsed[2] == 12.0 and np.isnan(parsed[[0, 1, 3, 4]]).all()
