"""Three refusals of values that look fine alone: one secret serving two keepers (a dashboard
token that is also the subject-ref key would hand stakeholders the key that links pseudonyms to
customers), a dashboard asked for a database that does not exist (a dashboard only reads: a new
name is a typo), and a data config's allow-list given as a bare string (refused as for every
list key)."""
from __future__ import annotations

import pytest

from churn_workbench import config
from churn_workbench.dashboard import serve
from churn_workbench.errors import InputError, UsageError
from churn_workbench.inputs import load_data_config

SECRET = "s3cret-value-long-enough-1234"


@pytest.mark.parametrize("first,second", [("WORKBENCH_DASHBOARD_TOKEN", "WORKBENCH_SUBJECT_KEY"),
                                          ("WORKBENCH_DASHBOARD_TOKEN", "OPENAI_API_KEY"),
                                          ("WORKBENCH_SUBJECT_KEY", "GROQ_API_KEY")])
def test_one_value_for_two_secrets_is_refused_naming_both(workspace, monkeypatch, first, second):
    monkeypatch.setenv(first, SECRET)
    monkeypatch.setenv(second, f" {SECRET} ")
    with pytest.raises(UsageError) as refused:
        config.check_variables()
    message = str(refused.value)
    assert first in message and second in message and SECRET not in message and "\n" not in message
    with pytest.raises(UsageError):
        serve.prepare("0.0.0.0", 18999)


def test_different_secrets_pass(workspace, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DASHBOARD_TOKEN", SECRET)
    monkeypatch.setenv("WORKBENCH_SUBJECT_KEY", SECRET + "-other")
    config.check_variables()


def test_a_dashboard_of_a_database_that_does_not_exist_is_refused_and_nothing_made(tmp_path, capsys):
    assert serve.main(["--db", str(tmp_path / "none" / "wb.duckdb"), "--port", "18999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no workbench database there" in err
    assert not (tmp_path / "none").exists()


def test_an_allow_list_given_as_a_string_is_refused_as_for_every_list_key(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('allow_words = "Fritzbox"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"key 'allow_words' must be a list of words.*got the string 'Fritzbox'"):
        load_data_config(path)
