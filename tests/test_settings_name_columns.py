"""Settings that name a customer column or a closed list are checked before the first stage, as
the options that mirror them are: a typo never starts a run that fails in a later stage."""
from __future__ import annotations

import pytest

from churn_workbench.boundary.data_config import check_value_column
from churn_workbench.config import load_settings
from churn_workbench.errors import UsageError

ROLES = {"customer_id": "id", "churned": "label", "email": "email", "monthly_charges": "feature",
         "lifetime_value": "excluded", "consent_marketing": "consent"}


def test_a_value_column_of_amounts_is_accepted():
    check_value_column("monthly_charges", ROLES)
    check_value_column("lifetime_value", ROLES)  # taken out of the features, still a value


@pytest.mark.parametrize("value, says", [
    ("no_such_column", "not a column of the customers in the store"),
    ("Monthly_Charges", "did you mean 'monthly_charges'"),
    ("email", "the email column, which holds no value"),
    ("customer_id", "the id column"),
    ("churned", "the label column"),
    ("consent_marketing", "the consent column"),
])
def test_a_value_column_that_holds_no_value_is_refused_naming_the_setting(value, says):
    with pytest.raises(UsageError, match="^WORKBENCH_VALUE_COLUMN names") as refused:
        check_value_column(value, ROLES)
    assert says in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("value", ["helth", "health,relgion", "health; religion"])
def test_an_unknown_special_category_is_refused_when_settings_are_read(monkeypatch, value):
    monkeypatch.setenv("WORKBENCH_EGRESS_SPECIAL_ALLOWED", value)
    with pytest.raises(UsageError, match="^WORKBENCH_EGRESS_SPECIAL_ALLOWED=.*: unknown special categor"):
        load_settings()


def test_known_special_categories_are_read(monkeypatch):
    monkeypatch.setenv("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "health")
    assert load_settings().egress_special_allowed == "health"


@pytest.mark.parametrize("value, stages", [("no_such_column", "ingest,feedback,train,predict,act"),
                                           ("email", "ingest,feedback,train,predict")])
def test_a_run_with_a_bad_value_column_is_refused_before_anything_is_made(value, stages, workspace, tmp_path_factory,
                                                                          monkeypatch, capsys):
    from churn_workbench import cli
    tmp = tmp_path_factory.mktemp("value")
    monkeypatch.setenv("WORKBENCH_VALUE_COLUMN", value)
    assert cli.main(["--synthetic", "30", "--db", str(tmp / "data" / "wb.duckdb"), "--stages", stages]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"WORKBENCH_VALUE_COLUMN names '{value}'" in err, err
    assert not (tmp / "data").exists()
