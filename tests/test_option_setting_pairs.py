"""An option and the setting it mirrors (boundary.paired.PAIRS) are one value given two ways: a
value refused as the option is refused as the setting too, by the same checker, before any
stage runs or anything is made, and the one line names where the value came from."""
from __future__ import annotations

import pytest

from churn_workbench import cli
from churn_workbench.boundary.paired import PAIRS

# A bad value of each pair, and words its refusal holds whichever way it is given.
BAD = {
    "--db": ("{tmp}/data/", "names a folder where a file is meant"),
    "--llm": ("foo", "foo"),
    "--llm-profile": ("foo", "foo"),
    "--allow-columns": ("no_such_col", "names 'no_such_col', which is not a column of the synthetic customers"),
    "--control-share": ("1", "a share in [0, 1)"),
}


def test_every_pair_has_a_bad_value():
    assert set(BAD) == set(PAIRS)


def _refused(argv, capsys, tmp_path, *words) -> str:
    assert cli.main([*argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "data").exists()
    return err


@pytest.mark.parametrize("flag", sorted(PAIRS))
def test_the_option_is_refused(flag, workspace, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("given")
    value, words = BAD[flag]
    db = [] if flag == "--db" else ["--db", str(tmp / "data" / "wb.duckdb")]
    _refused(["--synthetic", "30", *db, flag, value.format(tmp=tmp)], capsys, tmp, flag, words)


@pytest.mark.parametrize("flag", sorted(PAIRS))
def test_the_setting_is_refused_by_the_same_rule(flag, workspace, tmp_path_factory, monkeypatch, capsys):
    tmp = tmp_path_factory.mktemp("given")
    value, words = BAD[flag]
    monkeypatch.setenv(PAIRS[flag], value.format(tmp=tmp))
    db = [] if flag == "--db" else ["--db", str(tmp / "data" / "wb.duckdb")]
    err = _refused(["--synthetic", "30", *db], capsys, tmp, words)
    assert PAIRS[flag] in err or flag == "--db" and "WORKBENCH_DB" in err
