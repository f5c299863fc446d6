"""Options are spelt in full: an abbreviation (`--y` for `--yes`, `--dry` for `--dry-run`) is
refused with the full name suggested, never taken -- `--y` would confirm an irreversible erasure."""
from __future__ import annotations

import argparse

import pytest

import small_store
from churn_workbench import cli
from churn_workbench.dashboard import serve


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    return s


@pytest.mark.parametrize("argv", [["subject", "forget", "--customer", "C7302", "--y"],
                                  ["subject", "forget", "--cust", "C7302", "--yes"],
                                  ["subject", "purge", "--older-than", "0", "--dry", "--yes"]])
def test_an_abbreviated_option_of_a_subject_command_is_refused(store, argv, capsys):
    before = small_store.count(store, "customers", "C7302")
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert small_store.count(store, "customers", "C7302") == before


def test_an_abbreviated_run_option_is_refused_naming_the_full_one(workspace, capsys):
    assert cli.main(["--synth", "0"]) == 2
    assert "unknown option --synth; did you mean --synthetic?" in capsys.readouterr().err


def test_every_parser_refuses_abbreviations():
    """The run's, the subject commands' (and each action's), compare's and settings' (all _Parser),
    and the dashboard's."""
    subject = cli._subject_parser()
    actions = [a for a in subject._actions if isinstance(a, argparse._SubParsersAction)]
    parsers = [cli._parser(), subject, serve.parser(), cli._Parser(), *actions[0].choices.values()]
    assert all(p.allow_abbrev is False for p in parsers)
