"""forget's proof claims only what it searched: a table the workbench does not keep that names
the customer in a text column (no customer_id column) makes the erasure incomplete, naming the
table and column, instead of a proof that says the store holds nothing of them."""
from __future__ import annotations

import pytest

from churn_workbench import config, db
from churn_workbench.errors import ErasureIncomplete
from churn_workbench.subjects import forget


def _settings(tmp_path) -> config.Settings:
    return config.Settings(data_dir=tmp_path / "data", audit_dir=tmp_path / "audit")


def _store(settings, side_table: str | None) -> None:
    with db.session(settings.db_path) as con:
        con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES ('C44', 'Nina Haddad', 'nina@x.org'), "
                    "('C45', 'Bo Stone', 'bo@x.org')) t(customer_id, name, email)")
        if side_table:
            con.execute(side_table)


def test_a_table_without_customer_id_naming_the_customer_is_reported(tmp_path):
    settings = _settings(tmp_path)
    _store(settings, "CREATE TABLE side_notes AS SELECT 'C44' AS client, 'nina@x.org' AS email, 3 AS n")
    with pytest.raises(ErasureIncomplete) as caught:
        forget(settings, "C44", republish=False)
    message = str(caught.value)
    assert "side_notes" in message and "column client" in message and "\n" not in message, message


def test_other_tables_not_naming_the_customer_do_not_stop_the_erasure(tmp_path):
    settings = _settings(tmp_path)
    _store(settings, "CREATE TABLE side_notes AS SELECT 'C45' AS client, 'C440' AS other")
    done = forget(settings, "C44", republish=False)
    assert done["customer_id"] == "C44"


def test_the_workbench_tables_are_the_schema_and_the_customers():
    tables = db.workbench_tables()
    assert {"customers", "feedback", "consent", "audit_log", "tombstones"} <= tables
    assert "side_notes" not in tables
