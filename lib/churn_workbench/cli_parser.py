"""The argument parser of every command (`run_pipeline.py`, `churn-workbench` and each of its
subcommands, the dashboard's): the command line's boundary rules live here once, so a new
command or option inherits them.

- No abbreviations: `--y` must not confirm an irreversible erasure as `--yes` would; an unknown
  option is named with the one meant.
- An empty value (`--db "$DB"` with DB unset) is refused, never read as "not given".
- An option that holds one value is given once: `--run-id a --run-id b` would silently run as
  `b`, and `a` would never be checked. Options made to repeat (argparse's append, extend and
  count actions) may repeat.
"""
from __future__ import annotations

import argparse
import re
import sys

from . import cli_help
from .boundary.options import refuse_empty, refuse_repeated
from .boundary.run_ids import check_run_id

# Options whose value is a run id: an empty one is refused by the run id's own rule.
_RUN_ID_OPTIONS = {"run_id", "resume", "outcomes_for", "simulate_outcomes"}


class _ArgumentError(Exception):
    """A usage error argparse found (the message gets "see --help"); exit 2."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        # Every parser, each subcommand's too, names the option meant for one it does not know
        # (`subject purge --y`: did you mean --yes?), before argparse would say "unrecognized
        # arguments" or, for a mistyped required option, that the option is missing. A parser
        # with subcommands leaves its words to the subcommand's parser.
        if not any(isinstance(a, argparse._SubParsersAction) for a in self._actions):
            words = list(sys.argv[1:] if args is None else args)
            unknown = cli_help.unknown_option(words, self._option_string_actions)
            if unknown:
                raise _ArgumentError(unknown)
        self._given: dict[argparse.Action, list[str]] = {}  # option -> the values it was given in this parse
        return super().parse_known_args(args, namespace)

    def given(self) -> list[str]:
        """The dests of the options the last parse was given, in command-line order (a default
        left alone is not given, even when typed out: `--seed 42` is given)."""
        return [a.dest for a in getattr(self, "_given", {})]

    def error(self, message):  # argparse exits 2 by itself; raise so main() prints one clear line
        invalid = re.match(r"argument command: invalid choice: '([^']*)'", message)
        raise _ArgumentError(cli_help.unknown_command(invalid.group(1)) if invalid else message)

    def _get_values(self, action, arg_strings):
        # Called once for each occurrence of an option on the command line, with its raw words.
        if action.option_strings:
            flag = max(action.option_strings, key=len)
            given = self._given.setdefault(action, [])
            given.append(" ".join(arg_strings))
            refuse_repeated(flag, given, action)
        value = super()._get_values(action, arg_strings)
        # An option given an empty value (`--out "$DIR"` with DIR unset) is refused: read as "not
        # given" it would silently mean the default (another folder, file or database).
        if action.option_strings and isinstance(value, str) and not value.strip():
            if action.dest in _RUN_ID_OPTIONS:
                check_run_id(value, flag)  # the run id's own one-line refusal (it names the rules)
            refuse_empty(flag, value, action.required)
        return value
