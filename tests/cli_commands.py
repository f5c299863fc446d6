"""The command line's commands that take --db, read from its parsers (not a hand list)."""
from __future__ import annotations

from churn_workbench import cli
from churn_workbench.dashboard import serve


def _subactions(parser):
    for action in parser._actions:
        if getattr(action, "choices", None) and isinstance(action.choices, dict):
            return action.choices
    return {}


def commands_with_db(with_dashboard: bool = True) -> list[list[str]]:
    """The argv of every command that takes --db, with its required options filled in."""
    found = []
    main = cli._parser()
    command = next(a for a in main._actions if a.dest == "command")
    found += [([word], main) for word in command.choices]
    for word, sub in _subactions(cli._subject_parser()).items():
        found.append((["subject", word], sub))
    found.append((["compare"], cli._compare_parser("compare")))
    if with_dashboard:  # it reads only the snapshot of its database's folder
        found.append((["dashboard"], serve.parser("dashboard")))
    argvs = []
    for words, parser in found:
        assert "--db" in parser._option_string_actions, f"{' '.join(words)} takes no --db"
        required = [a.option_strings[0] for a in parser._actions if a.required and a.option_strings]
        argvs.append(words + [arg for flag in required for arg in (flag, "C1")])
    return argvs
