"""Every command's parser, each subcommand's too, refuses an abbreviation or a typo in one line
that names the option meant (the README's `--y` is not `--yes`), never a bare "unrecognized
arguments"."""
from __future__ import annotations

import argparse

import pytest

from churn_workbench import cli


def _subject_options() -> list[tuple[str, str]]:
    parser = cli._subject_parser()
    actions = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, flag) for name, sub in actions.choices.items()
            for flag in sub._option_string_actions if flag.startswith("--") and len(flag) > 4 and flag != "--help"]


@pytest.mark.parametrize("action,flag", _subject_options())
def test_a_subject_option_cut_short_is_refused_naming_it(action, flag, capsys, tmp_path):
    argv = ["subject", action, flag[:-1], "--db", str(tmp_path / "wb.duckdb")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"unknown option {flag[:-1]}; did you mean {flag}?" in err, err
    assert not (tmp_path / "wb.duckdb").exists()


@pytest.mark.parametrize("argv,meant", [(["compare", "--dbb", "x"], "--db"), (["subject", "purge", "--y"], "--yes")])
def test_other_commands_name_the_option_meant(argv, meant, capsys):
    assert cli.main(argv) == 2
    assert f"did you mean {meant}?" in capsys.readouterr().err
