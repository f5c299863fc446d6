"""Every character that breaks a line anywhere -- each one `str.splitlines()` splits at, U+2028
and U+2029 included -- is refused inside a customer id and a path, not a listed few; ids that
print alike are quoted apart in messages."""
from __future__ import annotations

import sys

import pandas as pd
import pytest

from churn_workbench.boundary import customer_ids, paths
from churn_workbench.boundary.text import LINE_BREAKING, shown
from churn_workbench.errors import UsageError

BREAKERS = [chr(cp) for cp in range(sys.maxunicode + 1)
            if not 0xD800 <= cp <= 0xDFFF and len(f"a{chr(cp)}b".splitlines()) > 1]


def test_the_rule_covers_every_character_python_breaks_a_line_at():
    assert {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"} <= set(BREAKERS)
    assert all(LINE_BREAKING.search(ch) for ch in BREAKERS)


@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(c):04X}" for c in BREAKERS])
def test_an_id_with_a_line_break_of_any_kind_is_refused(breaker):
    ids = pd.Series(["C001", f"C0{breaker}02", "C003"])
    problem, rows = customer_ids.malformed(customer_ids.canonical_series(ids))
    assert "one line" in problem and list(rows) == [1]
    with pytest.raises(UsageError, match="one line") as refused:
        customer_ids.subject_id(f"C0{breaker}02")
    assert len(str(refused.value).splitlines()) == 1


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\x85", "\x1e"])
def test_a_path_with_a_line_break_of_any_kind_is_refused_in_one_line(breaker, tmp_path):
    with pytest.raises(UsageError, match="control character") as refused:
        paths.user_path(tmp_path / f"a{breaker}b.csv", "--customers")
    assert len(str(refused.value).splitlines()) == 1


def test_ids_that_print_alike_are_quoted_apart():
    assert shown("C0000101") == "C0000101"
    assert shown("C0000101\u0301") != shown("C0000101") and "\\u0301" in shown("C0000101\u0301")
    assert "\\u0421" in shown("\u04217010")  # a Cyrillic Es
