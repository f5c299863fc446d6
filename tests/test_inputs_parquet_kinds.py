"""A Parquet file is read as its CSV export would be: every column one of the kinds a CSV cell
gives. Bytes are UTF-8 text (a customer id stored as binary must be `C1`, not the text `b'C1'`,
or no consent record, export or erasure would ever match it), decimals are floats, timestamps
with a time zone are UTC; a time of day or a duration is refused naming the column, and bytes
that are not UTF-8 naming the rows, in one line."""
from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churn_workbench.errors import InputError
from churn_workbench.inputs.files import read_table


def _write(tmp_path, **columns):
    path = tmp_path / "customers.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_bytes_decimals_and_zoned_timestamps_read_as_a_csv_would_give_them(tmp_path):
    plus2 = dt.timezone(dt.timedelta(hours=2))
    frame = read_table(_write(
        tmp_path, customer_id=pa.array([b"C1", b"C2"], pa.binary()),
        fixed=pa.array([b"ab", b"cd"], pa.binary(2)),
        coded=pa.array([b"x", b"y"]).dictionary_encode(),
        fee=pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)),
        seen=pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=plus2), None], pa.timestamp("us", tz="+02:00"))))
    assert frame["customer_id"].tolist() == ["C1", "C2"] and frame["fixed"].tolist() == ["ab", "cd"]
    assert frame["coded"].tolist() == ["x", "y"]
    assert frame["fee"].dtype.kind == "f" and frame["fee"].iloc[0] == 1.5
    assert str(frame["seen"].iloc[0]) == "2024-01-01 10:00:00" and frame["seen"].dt.tz is None


def test_bytes_that_are_not_text_are_refused_naming_the_rows(tmp_path):
    path = _write(tmp_path, customer_id=pa.array([b"C1", b"\xff\xfe", None, b"C4\xc3"], pa.binary()))
    with pytest.raises(InputError, match=r"column 'customer_id' holds bytes that are not UTF-8 text at rows 2, 4;"):
        read_table(path)


@pytest.mark.parametrize("kind,column", [("times of day", pa.array([dt.time(1, 2)], pa.time64("us"))),
                                         ("durations", pa.array([dt.timedelta(days=3)], pa.duration("s")))],
                         ids=["time", "duration"])
def test_a_kind_no_csv_cell_has_is_refused_naming_the_column(tmp_path, kind, column):
    with pytest.raises(InputError, match=f"column 't' holds {kind}"):
        read_table(_write(tmp_path, customer_id=pa.array(["C1"]), t=column))


def test_a_binary_id_is_stored_as_its_text(tmp_path):
    from churn_workbench.inputs import DataConfig, read_customers

    path = _write(tmp_path, customer_id=pa.array([b"C1", b"C2", b"C3"], pa.binary()), churned=pa.array([1, 0, 1]),
                  tenure=pa.array([3, 4, 5]))
    assert sorted(read_customers(path, DataConfig()).frame["customer_id"]) == ["C1", "C2", "C3"]
