"""Customer ids have one canonical form (NFKC, invisible characters removed, trimmed; case kept),
applied at import to every table. A grant counts for its canonical id only; a withdrawal or
objection also counts for every id that only looks different (case, width, look-alike letters):
a withdrawal in doubt wins."""
from __future__ import annotations

import pytest

from churn_workbench import consent, db, inputs
from churn_workbench.errors import InputError

GRANT, WITHDRAW = ("true", "2025-01-01"), ("false", "2025-02-01")


def _decide(tmp_path, records, ids, purpose="marketing"):
    """Import a consent CSV as the ingest does, then decide for `ids`."""
    path = tmp_path / "consent.csv"
    rows = [f'"{cid}",{purpose},{granted},{when}' for cid, (granted, when) in records]
    path.write_text("customer_id,purpose,granted,recorded_at\n" + "\n".join(rows) + "\n", encoding="utf-8")
    frame = inputs.read_consent(path)
    frame["source"], frame["run_id"] = "test", "r1"
    con = db.connect(tmp_path / "wb.duckdb")
    try:
        db.migrate(con)
        con.execute("DELETE FROM consent")
        db.insert_df(con, "consent", frame)
        return consent.allowed(con, ids, purpose).to_dict(), list(frame["customer_id"])
    finally:
        con.close()


@pytest.mark.parametrize("withdrawn_as, what", [
    ("\uff23\uff17\uff10\uff10\uff19", "full-width Ｃ７００９"),
    ("\u04217009", "a Cyrillic С"),
    ("\U0001d402" "7009", "a mathematical bold 𝐂"),
    ("C\u200b7009", "a zero-width space inside"),
    ("c7009", "lower case"),
    ("\u00a0C7009\u3000", "no-break and ideographic spaces around it"),
])
def test_a_withdrawal_under_a_look_alike_id_wins(tmp_path, withdrawn_as, what):
    decided, _ = _decide(tmp_path, [("C7009", GRANT), (withdrawn_as, WITHDRAW)], ["C7009"])
    assert decided == {"C7009": False}, what


@pytest.mark.parametrize("granted_as, expected, what", [
    (" C7004 ", True, "white space around it: the same canonical id (README)"),
    ("\uff23\uff17\uff10\uff10\uff14", True, "full-width digits: the same canonical id"),
    ("c7004", False, "another case is another id"),
    ("\u04217004", False, "a Cyrillic С is another id"),
])
def test_a_grant_counts_for_its_canonical_id_only(tmp_path, granted_as, expected, what):
    decided, stored = _decide(tmp_path, [(granted_as, GRANT)], ["C7004"])
    assert decided == {"C7004": expected}, what


def test_ids_are_stored_in_canonical_form_in_every_imported_table(tmp_path):
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,plan\n\uff23\uff17\uff10\uff10\uff11,a\n C7002\u200b ,b\n", encoding="utf-8")
    feedback = tmp_path / "f.csv"
    feedback.write_text("customer_id,text\n\uff23\uff17\uff10\uff10\uff11,slow network\n", encoding="utf-8")
    assert inputs.read_customers(customers).frame["customer_id"].tolist() == ["C7001", "C7002"]
    assert inputs.read_feedback(feedback)["customer_id"].tolist() == ["C7001"]
    _, stored = _decide(tmp_path, [("\uff23\uff17\uff10\uff10\uff11", GRANT)], ["C7001"])
    assert stored == ["C7001"]


def test_two_rows_whose_ids_are_one_canonical_id_are_duplicates(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,plan\nC7001,a\n\uff23\uff17\uff10\uff10\uff11,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate ids at rows 2 \\(same as row 1\\)"):
        inputs.read_customers(path)


def test_an_id_made_only_of_invisible_characters_is_blank(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,plan\nC1,a\n\u200b\u2060,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="blank at row 2"):
        inputs.read_customers(path)


def test_ascii_ids_that_differ_are_never_folded_together(tmp_path):
    """O/0 and l/1 are distinct characters of real ids: a withdrawal of C0O1 is not C001's."""
    decided, _ = _decide(tmp_path, [("C001", GRANT), ("C0O1", WITHDRAW), ("Cl01", WITHDRAW)], ["C001"])
    assert decided == {"C001": True}


def test_the_sql_match_key_folds_what_it_should(tmp_path):
    from churn_workbench.boundary.customer_ids import match_key_of_param_sql
    con = db.connect(tmp_path / "k.duckdb")
    try:
        key = lambda v: con.execute(f"SELECT {match_key_of_param_sql()}", [v]).fetchone()[0]  # noqa: E731
        assert key(" C7010 ") == key("c7010") == key("\u04217010") == key("\uff23\uff17\uff10\uff11\uff10") == "c7010"
        assert key("C0O1") != key("C001")
        assert key(None) is None
    finally:
        con.close()

