"""What a refusal says: every parser error is one line (no argparse `usage:` block), the URL of a
dashboard on an IPv6 address is a valid URL, and a binary file given as a table is named as what
it is, not as UTF-16 text."""
from __future__ import annotations

import duckdb
import pytest

from churn_workbench import cli
from churn_workbench.dashboard.serve import dashboard_url
from churn_workbench.errors import InputError
from churn_workbench.inputs.files import read_table

BAD_VALUES = [
    ["--synthetic", "３０"], ["--db"], ["--stages"], ["--llm", "gpt"], ["--nope"], ["bogus"],
    ["verify", "--heads"], ["compare", "--db"], ["compare", "--nope"], ["settings", "--nope"],
    ["subject"], ["subject", "forget"], ["subject", "purge", "--older-than", "３０"], ["subject", "export", "--y"],
    ["dashboard", "--port", "８８６６"], ["dashboard", "--nope"],
]


@pytest.mark.parametrize("argv", BAD_VALUES, ids=" ".join)
def test_every_parser_error_is_one_line(argv, capsys, workspace):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "usage:" not in err and not out, err


@pytest.mark.parametrize("ip,url", [("::1", "http://[::1]:8866/"), ("127.0.0.1", "http://127.0.0.1:8866/"),
                                    ("0.0.0.0", "http://127.0.0.1:8866/"), ("fe80::1", "http://[fe80::1]:8866/")])
def test_the_dashboard_url_brackets_an_ipv6_address(ip, url):
    assert dashboard_url(ip, 8866) == url


def test_a_duckdb_file_given_as_a_table_is_named_as_one(tmp_path):
    path = tmp_path / "wb.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(InputError, match="is a DuckDB database, not a CSV or Parquet file") as refused:
        read_table(path)
    assert "UTF-16" not in str(refused.value)


def test_binary_data_full_of_nul_bytes_is_not_called_utf16(tmp_path):
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(1, 256)) * 4 + b"\x00" * 2000)
    with pytest.raises(InputError, match="binary data"):
        read_table(path)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_is_still_named_utf16(tmp_path, codec):
    path = tmp_path / "c.csv"
    path.write_bytes("customer_id,churned\nC1,yes\nC2,no\n".encode(codec))
    with pytest.raises(InputError, match="is UTF-16 encoded"):
        read_table(path)
