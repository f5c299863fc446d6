"""A data config that gives a column two roles, names a column with spaces at its ends, or names
it in another Unicode form is refused in one line saying exactly that; a positive_label that
matches no value is named as the thing to fix, not the file."""
from __future__ import annotations

import unicodedata

import pytest

from churn_workbench import inputs
from churn_workbench.errors import InputError

HEADER = "cust_no,left_us,full_name,mail,mobile,Age,région,tenure"
ROWS = ["C1,gone,Ann Lee,ann@example.org,+44 7700 900001,41,south,12",
        "C2,stayed,Bo Chen,bo@example.org,+44 7700 900002,35,west,30"]


@pytest.fixture
def customers(tmp_path):
    path = tmp_path / "cust.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def _read(tmp_path, customers, toml: str):
    config = tmp_path / "cust.toml"
    config.write_text(toml, encoding="utf-8")
    return inputs.read_customers(customers, inputs.load_data_config(config))


GOOD = 'id_column = "cust_no"\nlabel_column = "left_us"\npositive_label = "gone"\n'


@pytest.mark.parametrize("toml,words", [
    (GOOD + 'phone_columns = ["mobile"]\nsensitive_columns = ["Age", "mobile"]\n',
     ["'mobile'", "phone_columns", "sensitive_columns", "one role"]),
    (GOOD + 'email_columns = ["mail"]\nname_columns = ["full_name", "mail"]\n',
     ["'mail'", "name_columns", "email_columns", "one role"]),
    (GOOD + 'exclude_columns = ["Age"]\nsensitive_columns = ["Age"]\n', ["'Age'", "one role"]),
])
def test_a_column_under_two_role_keys_is_refused(tmp_path, customers, toml, words):
    with pytest.raises(InputError) as err:
        _read(tmp_path, customers, toml)
    message = str(err.value)
    assert "\n" not in message and "cust.toml" in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("toml,key", [
    ('id_column = " cust_no"\nlabel_column = "left_us"\npositive_label = "gone"\n', "id_column"),
    (GOOD + 'sensitive_columns = ["Age "]\n', "sensitive_columns"),
])
def test_a_name_with_spaces_at_its_ends_is_refused_not_trimmed(tmp_path, customers, toml, key):
    with pytest.raises(InputError, match=rf"cust\.toml: key '{key}' names .* with spaces at its ends"):
        _read(tmp_path, customers, toml)


def test_a_name_in_another_unicode_form_says_so(tmp_path, customers):
    nfd = unicodedata.normalize("NFD", "région")
    with pytest.raises(InputError) as err:
        _read(tmp_path, customers, GOOD + f'sensitive_columns = ["{nfd}"]\n')
    message = str(err.value)
    assert "Unicode form" in message and "did you mean" not in message, message


def test_a_positive_label_matching_no_value_is_named_as_the_fix(tmp_path, customers):
    with pytest.raises(InputError) as err:
        _read(tmp_path, customers, 'id_column = "cust_no"\nlabel_column = "left_us"\npositive_label = 1\n')
    message = str(err.value)
    assert "positive_label '1' in the data config matches none of them" in message, message
    assert "or set positive_label" not in message


def test_one_role_per_column_and_exact_names_are_taken(tmp_path, customers):
    table = _read(tmp_path, customers, GOOD + 'phone_columns = ["mobile"]\nemail_columns = ["mail"]\n'
                  'name_columns = ["full_name"]\nsensitive_columns = ["Age"]\n')
    assert table.roles["mobile"] == "phone" and table.roles["Age"] == "sensitive"
