"""forget's proof compares ids in canonical form, and finds the id inside free text: a table
someone added that holds the customer's id padded, with an invisible character, full-width, or
as a word of a note, makes the erasure incomplete (exit 1 naming the table), and "erased" is
only said when no form of the id is left. Other ids that merely contain it stay unreported."""
from __future__ import annotations

import pytest

from churn_workbench import config, db
from churn_workbench.errors import ErasureIncomplete
from churn_workbench.subjects import forget


def _settings(tmp_path) -> config.Settings:
    return config.Settings(data_dir=tmp_path / "data", audit_dir=tmp_path / "audit")


def _store(settings, *side: str) -> None:
    with db.session(settings.db_path) as con:
        con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES ('C44', 'Nina Haddad', 'nina@x.org'), "
                    "('C45', 'Bo Stone', 'bo@x.org')) t(customer_id, name, email)")
        for statement in side:
            con.execute(statement)


def _forget_refused(tmp_path, create: str, insert: str, value: str) -> str:
    """Forget C44 from a store with one added table holding `value`; the refusal's message."""
    settings = _settings(tmp_path)
    _store(settings, create)
    with db.session(settings.db_path) as con:
        con.execute(insert, [value])
    with pytest.raises(ErasureIncomplete) as caught:
        forget(settings, "C44", republish=False)
    return str(caught.value)


@pytest.mark.parametrize("stored", [" C44 ", "C44\u200b", "\ufeffC44", "\uff23\uff14\uff14", "\tC44\n", "C\u206044"],
                         ids=["padded", "zero-width-space", "bom", "full-width", "tab-newline", "word-joiner-inside"])
def test_a_customer_id_column_holding_a_canonical_form_of_the_id_is_reported(tmp_path, stored):
    refusal = _forget_refused(tmp_path, "CREATE TABLE crm_notes (customer_id VARCHAR, note VARCHAR)",
                              "INSERT INTO crm_notes VALUES (?, 'x')", stored)
    assert "table crm_notes" in refusal, refusal


@pytest.mark.parametrize("note", ["customer C44 complained", "called (C44), no answer", "re: \uff23\uff14\uff14 again",
                                  "ticket for C\u200b44"])
def test_the_id_as_a_word_inside_free_text_is_reported(tmp_path, note):
    refusal = _forget_refused(tmp_path, "CREATE TABLE notes (body VARCHAR, n INTEGER)",
                              "INSERT INTO notes VALUES (?, 1)", note)
    assert "table notes (column body)" in refusal, refusal


def test_a_text_column_of_a_table_with_a_customer_id_column_is_searched_too(tmp_path):
    settings = _settings(tmp_path)
    _store(settings, "CREATE TABLE referrals AS SELECT 'C45' AS customer_id, 'referred by C44' AS note")
    with pytest.raises(ErasureIncomplete) as caught:
        forget(settings, "C44", republish=False)
    assert "referrals (column note)" in str(caught.value), str(caught.value)


def test_a_table_in_another_schema_is_searched(tmp_path):
    settings = _settings(tmp_path)
    _store(settings, "CREATE SCHEMA crm", "CREATE TABLE crm.people AS SELECT ' C44' AS customer_id")
    with pytest.raises(ErasureIncomplete) as caught:
        forget(settings, "C44", republish=False)
    assert "crm.people" in str(caught.value), str(caught.value)


def test_other_ids_containing_the_id_and_other_case_stay_unreported(tmp_path):
    settings = _settings(tmp_path)
    _store(settings, "CREATE TABLE notes AS SELECT * FROM (VALUES ('C440', 'about C440'), ('C44-B', 'C44_old'), "
                     "('c44', 'XC44'), (NULL, NULL)) t(customer_id, body)")
    done = forget(settings, "C44", republish=False)
    assert done["customer_id"] == "C44"
    assert "canonical form" in done["checked"] and "exports folder" in done["checked"]
