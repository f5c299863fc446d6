"""Numbers from outside are read only in the plain form the README documents (ASCII digits, a
sign, for a share a decimal point or an exponent): `1_0`, full-width `８` or Arabic-Indic `١٠`,
which Python's int() would read silently, are refused -- retention periods drive deletion."""
from __future__ import annotations

import pytest

from churn_workbench import cli, config
from churn_workbench.boundary.numbers import plain_float, plain_int
from churn_workbench.errors import UsageError

LENIENT = ["1_0", "\uff18", "\u0661\u0660", "10_000", "0x10", "1e3", "", "  "]


@pytest.mark.parametrize("text", LENIENT, ids=repr)
def test_only_ascii_digits_make_a_whole_number(text):
    with pytest.raises(ValueError):
        plain_int(text)


@pytest.mark.parametrize("text, value", [("30", 30), (" 5 ", 5), ("+8", 8), ("-1", -1), ("0", 0)])
def test_plain_whole_numbers_are_read(text, value):
    assert plain_int(text) == value


@pytest.mark.parametrize("text, value", [("0.1", 0.1), ("1e-1", 0.1), (".5", 0.5), ("3", 3.0), ("-0.25", -0.25)])
def test_plain_shares_are_read(text, value):
    assert plain_float(text) == value


@pytest.mark.parametrize("text", ["\u0660\u066b\u0661", "1_0.5", "\uff10.1", "0x1", "1,5"], ids=repr)
def test_lenient_shares_are_refused(text):
    with pytest.raises(ValueError):
        plain_float(text)


@pytest.mark.parametrize("text", ["1_0", "\uff15", "\u0661\u0660"], ids=repr)
def test_a_retention_setting_in_a_lenient_form_is_refused(workspace, monkeypatch, text):
    monkeypatch.setenv("WORKBENCH_RETENTION_FEEDBACK_DAYS", text)
    with pytest.raises(UsageError, match="WORKBENCH_RETENTION_FEEDBACK_DAYS.*plain digits"):
        config.load_settings()


@pytest.mark.parametrize("text", ["1_0", "\uff15", "\u0661\u0660"], ids=repr)
def test_older_than_in_a_lenient_form_is_refused_before_anything_runs(workspace, text, capsys):
    assert cli.main(["subject", "purge", "--older-than", text, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--older-than" in err and "plain digits" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--synthetic", "1_000"], ["--seed", "\uff17"], ["--control-share", "\u0660.1"],
                                  ["--max-train-rows", "1_0"]], ids=repr)
def test_run_options_in_a_lenient_form_are_refused(workspace, argv, capsys):
    assert cli.main([*argv, "--stages", "ingest"]) == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize("text", ["365.5", "1e3", "1.0"], ids=repr)
def test_retention_is_whole_days_and_a_fraction_is_refused_saying_so(workspace, monkeypatch, text, capsys):
    monkeypatch.setenv("WORKBENCH_RETENTION_FEEDBACK_DAYS", text)
    with pytest.raises(UsageError, match="WORKBENCH_RETENTION_FEEDBACK_DAYS=.*expected a whole number"):
        config.load_settings()
    monkeypatch.delenv("WORKBENCH_RETENTION_FEEDBACK_DAYS")
    assert cli.main(["subject", "purge", "--older-than", text, "--dry-run"]) == 2
    assert "is not a whole number" in capsys.readouterr().err


def test_a_share_setting_asks_for_a_number_not_a_whole_one(workspace, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CONTROL_SHARE", "ten percent")
    with pytest.raises(UsageError, match=r"WORKBENCH_CONTROL_SHARE='ten percent': expected a number in plain digits .*0\.1$"):
        config.load_settings()
