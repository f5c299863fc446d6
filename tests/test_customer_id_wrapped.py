"""A withdrawal matches its customer through whatever wraps the id -- quotes, brackets, a full
stop typed after it -- as it does through case, look-alike letters and spaces: in doubt, a
withdrawal wins. A grant stays exact."""
from __future__ import annotations

import duckdb
import pytest

from churn_workbench.boundary.customer_ids import canonical, match_key_sql, register_sql_functions


def _key(value: str) -> str:
    con = duckdb.connect()
    register_sql_functions(con)  # as every workbench connection does (db.connect)
    try:
        return con.execute(f"SELECT {match_key_sql('v')} FROM (SELECT ?::VARCHAR AS v)", [value]).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("written", ['"C0000002"', "'C0000002'", "[C0000002]", "(C0000002)", "C0000002.",
                                     "«C0000002»", "“C0000002”", ' "c0000002" ', '"С0000002"', "<C0000002>;"])
def test_a_wrapped_id_has_the_match_key_of_the_id(written):
    assert _key(written) == _key("C0000002") == "c0000002"


@pytest.mark.parametrize("other", ["C0000002-1", "C00000021", "XC0000002", "C-0000002"])
def test_what_is_inside_the_id_still_tells_ids_apart(other):
    assert _key(other) != _key("C0000002")


def test_the_canonical_form_a_grant_counts_for_keeps_the_quotes():
    assert canonical('"C0000002"') == '"C0000002"'
