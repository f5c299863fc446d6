"""A withdrawal under a look-alike of a customer id counts for the customer: every TR39 confusable
of the id's letters, also those NFKC turns into another letter first (`Ϲ` U+03F9 -> `Σ`) and
Latin small capitals (`ᴄ` U+1D04), folds to the same match key as the id itself."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from churn_workbench import consent, db
from churn_workbench.boundary.customer_ids import canonical, match_key_sql, register_sql_functions
from churn_workbench.pii.confusables import ascii_lookalikes


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    register_sql_functions(c)  # as every workbench connection does (db.connect)
    yield c
    c.close()


def _key(con, raw: str) -> str:
    # As stored: the import keeps the canonical (NFKC) form, the key is computed over that.
    return con.execute(f"SELECT {match_key_sql('v')} FROM (SELECT CAST(? AS VARCHAR) AS v)", [canonical(raw)]).fetchone()[0]


def test_the_reported_lookalikes_key_as_the_latin_id(con):
    assert _key(con, "\u03f90000004") == _key(con, "C0000004") == "c0000004"   # Ϲ, stored as Σ0000004
    assert _key(con, "\u1d040000014") == _key(con, "C0000014")                  # ᴄ


def test_ascii_letters_are_never_folded_onto_each_other(con):
    assert _key(con, "CO000021") != _key(con, "C0000021")
    assert _key(con, "Σ0000004".replace("Σ", "S")) != _key(con, "C0000004")


C_LOOKALIKES = sorted(chr(cp) for cp, target in ascii_lookalikes().items() if target in "Cc")


def test_the_sweep_covers_the_confusables_data():
    assert len(C_LOOKALIKES) > 40 and "\u03f9" in C_LOOKALIKES and "\u1d04" in C_LOOKALIKES


def test_a_withdrawal_under_any_lookalike_of_c_applies_to_the_customer(tmp_path):
    """For every confusable of 'C' / 'c': a profiling withdrawal recorded under that look-alike
    (stored in canonical form, as the import stores it) excludes the customer, granted exactly.
    One customer per look-alike (C0000001, C0000002, ...), decided in one query."""
    ids = [f"C{n:07d}" for n in range(1, len(C_LOOKALIKES) + 1)]
    rows = [(cid, True, "grant") for cid in ids]
    rows += [(canonical(char + cid[1:]), False, f"U+{ord(char):04X}") for char, cid in zip(C_LOOKALIKES, ids)]
    with db.session(tmp_path / "wb.duckdb") as c:
        c.executemany("INSERT INTO consent (customer_id, purpose, granted, source) VALUES (?, 'profiling', ?, ?)", rows)
        decision = consent.allowed(c, pd.Series(ids), "profiling")
    missed = [f"U+{ord(char):04X}" for char, cid in zip(C_LOOKALIKES, ids) if decision[cid]]
    assert missed == []
    assert not decision.any()
