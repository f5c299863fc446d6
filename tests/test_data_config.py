"""A data config is checked against the customers file's header before anything runs: every
column it names exists, spelt exactly (near matches are named), values have their types, and a
config that contradicts itself is refused -- each in one line naming the config and the key."""
from __future__ import annotations

import pytest

from churn_workbench import cli, inputs
from churn_workbench.errors import InputError

HEADER = "customerID,gender,SeniorCitizen,tenure,Contract,Churn"
ROWS = ["1001-A,Female,0,12,Month-to-month,Yes", "1002-B,Male,1,40,Two year,No", "1003-C,Male,0,3,One year,"]


@pytest.fixture
def customers(tmp_path):
    path = tmp_path / "telco.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def _read(tmp_path, customers, toml: str):
    config = tmp_path / "telco.toml"
    config.write_text(toml, encoding="utf-8")
    return inputs.read_customers(customers, inputs.load_data_config(config))


GOOD = 'id_column = "customerID"\nlabel_column = "Churn"\n'

REFUSED = [
    ("an identifier column that does not exist", GOOD + 'identifier_columns = ["no_such_column"]\n',
     ["identifier_columns", "'no_such_column'"]),
    ("a label column that is not the file's", 'id_column = "customerID"\nlabel_column = "Churned"\n',
     ["label_column", "'Churned'", "did you mean 'Churn'"]),
    ("the id column in another case", 'id_column = "customerId"\nlabel_column = "Churn"\n',
     ["id_column", "'customerId'", "did you mean 'customerID'", "exactly"]),
    ("a sensitive column in another case", GOOD + 'sensitive_columns = ["Gender"]\n', ["did you mean 'gender'"]),
    ("a list key given as a string", GOOD + 'sensitive_columns = "gender"\n', ["sensitive_columns", "must be a list"]),
    ("the id column excluded", GOOD + 'exclude_columns = ["customerID"]\n', ["'customerID' is the id_column", "exclude_columns"]),
    ("the label column as an identifier", GOOD + 'identifier_columns = ["Churn"]\n', ["'Churn' is the label_column"]),
    ("the id column as the label", 'id_column = "customerID"\nlabel_column = "customerID"\n', ["both name 'customerID'"]),
    ("sensitive and not sensitive", GOOD + 'sensitive_columns = ["gender"]\nnot_sensitive_columns = ["gender"]\n',
     ["'gender'", "sensitive_columns and not_sensitive_columns"]),
    ("kept as a feature and excluded", GOOD + 'exclude_columns = ["tenure"]\nallow_columns = ["tenure"]\n',
     ["'tenure'", "allow_columns", "exclude_columns"]),
    ("a column listed twice", GOOD + 'sensitive_columns = ["gender", "gender"]\n', ["lists a column twice"]),
    ("an allow column that does not exist", GOOD + 'allow_columns = ["tenur"]\n', ["allow_columns", "did you mean 'tenure'"]),
]


@pytest.mark.parametrize("what, toml, expected", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_config_that_cannot_mean_what_it_says_is_refused_in_one_line(tmp_path, customers, what, toml, expected):
    with pytest.raises(InputError) as err:
        _read(tmp_path, customers, toml)
    message = str(err.value)
    assert "\n" not in message and "telco.toml" in message, message
    for part in expected:
        assert part in message, (what, message)


def test_a_config_that_names_its_columns_exactly_is_taken(tmp_path, customers):
    table = _read(tmp_path, customers, GOOD + 'sensitive_columns = ["gender", "SeniorCitizen"]\nallow_columns = ["tenure"]\n')
    assert table.roles["gender"] == "sensitive" and table.roles["SeniorCitizen"] == "sensitive"
    assert table.frame["churned"].tolist()[:2] == [1, 0] and table.leakage_allowed == ["tenure"]


def test_defaults_may_be_absent_and_keep_their_loose_matching(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Customer ID,plan\nA,x\nB,y\n", encoding="utf-8")
    table = inputs.read_customers(path)  # no name/email/phone columns, no label, "Customer ID" is the default id
    assert table.frame["customer_id"].tolist() == ["A", "B"]


def test_the_command_line_refuses_before_any_run(workspace, tmp_path, customers, capsys):
    config = tmp_path / "telco.toml"
    config.write_text('id_column = "customerID"\nlabel_column = "Churned"\n', encoding="utf-8")
    assert cli.main(["--customers", str(customers), "--data-config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'Churn'" in err
    assert not workspace.db_path.exists()
