"""An option that holds one value is given once, by every command: `--run-id ../x --run-id ok-1`
would run as ok-1 and never check ../x. The options are read from the parsers themselves (every
single-valued option of every command), not from a hand list; options made to repeat still may."""
from __future__ import annotations

import argparse

import pytest

from churn_workbench import cli
from churn_workbench.boundary.options import repeatable
from churn_workbench.cli_parser import Parser
from churn_workbench.dashboard import serve
from churn_workbench.errors import UsageError


def _subparsers(parser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _commands() -> list[tuple[str, argparse.ArgumentParser, list[str]]]:
    """(name, the parser to call, the words that reach the command's own parser) of every command."""
    subject = cli._subject_parser()
    found = [("run", cli._parser(), []), ("verify", cli._parser(), ["verify"]),
             ("compare", cli._compare_parser("compare"), []), ("settings", cli._settings_parser("settings"), []),
             ("dashboard", serve.parser("dashboard"), [])]
    found += [(f"subject {word}", subject, [word]) for word in _subparsers(subject)]
    return found


def _own_parser(parser, words):
    return _subparsers(parser)[words[0]] if words and _subparsers(parser) else parser


def _value(action, n: int) -> list[str]:
    """Words for one occurrence of `action` that its type and choices accept."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [sorted(action.choices)[n % len(action.choices)]]
    return [str(n + 1)] if action.type not in (None, str) else [f"v{n + 1}"]


def _required(parser, but=None) -> list[str]:
    """The required options of `parser` (but `but`), each with a value."""
    return [w for a in parser._actions if a.required and a.option_strings and a is not but
            for w in (a.option_strings[0], *_value(a, 0))]


def _single_valued() -> list:
    cases = []
    for name, parser, words in _commands():
        own = _own_parser(parser, words)
        for action in own._actions:
            if action.option_strings and not repeatable(action):
                cases.append(pytest.param(parser, words, own, action, id=f"{name} {max(action.option_strings, key=len)}"))
    return cases


def test_every_command_is_covered():
    names = {name for name, _, _ in _commands()}
    assert {"run", "verify", "subject export", "subject forget", "subject lift", "subject purge",
            "compare", "settings", "dashboard"} <= names
    assert len(_single_valued()) > 40  # the run's derived stage options are among them


@pytest.mark.parametrize("parser, words, own, action", _single_valued())
def test_a_single_valued_option_given_twice_is_refused_naming_both_values(parser, words, own, action):
    flag = max(action.option_strings, key=len)
    others = _required(own, but=action)  # a required option itself is given twice, not filled in
    first, second = _value(action, 0), _value(action, 1)
    with pytest.raises(UsageError) as refused:
        parser.parse_args([*words, *others, flag, *first, flag, *second])
    message = str(refused.value)
    assert message.startswith(f"{flag} given twice") and message.endswith(": give it once")
    for value in first + second:
        assert value in message


def test_the_same_value_twice_is_refused_too():
    with pytest.raises(UsageError, match=r"--run-id given twice \(a, a\)"):
        cli._parser().parse_args(["--run-id", "a", "--run-id", "a"])


def test_both_spellings_of_one_option_count_as_one_option():
    with pytest.raises(UsageError, match=r"--run-id given twice \(a, b\)"):
        cli._parser().parse_args(["--run-id=a", "--run-id", "b"])


@pytest.mark.parametrize("kind", ["append", "extend", "count", "append_const"])
def test_options_made_to_repeat_still_repeat(kind):
    p = Parser(prog="t")
    extra = {"append": {}, "extend": {"nargs": "+"}, "count": {}, "append_const": {"const": "x"}}[kind]
    p.add_argument("--opt", action=kind, **extra)
    p.add_argument("--one")
    words = {"count": ["--opt", "--opt"], "append_const": ["--opt", "--opt"]}.get(kind, ["--opt", "a", "--opt", "b"])
    args = p.parse_args([*words, "--one", "z"])
    assert args.opt == {"count": 2, "append_const": ["x", "x"]}.get(kind, ["a", "b"]) and args.one == "z"


def test_a_repeated_run_id_ends_the_command_in_one_line_before_anything_is_made(workspace, capsys):
    assert cli.main(["--synthetic", "20", "--run-id", "../x", "--run-id", "ok-1", "--stages", "ingest"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--run-id given twice (../x, ok-1): give it once" in err
    assert not workspace.db_path.exists() and not workspace.audit_dir.exists()
