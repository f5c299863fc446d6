"""The command line's words: its name, description, examples, exit codes, settings, the help of
each stage parameter, and suggestions for a mistyped option or command.

Kept apart from cli.py and free of heavy imports (no pandas, DuckDB or papermill), so that help
and error messages never wait for them.
"""
from __future__ import annotations

import difflib
import os
import sys
import textwrap
from typing import Iterable

COMMANDS = {
    "run": "run the pipeline (the default command)",
    "verify": "recompute the audit chain, the manifests and every artefact hash",
    "compare": "compare two runs: inputs, segments, model, actions, LLM usage",
    "subject": "data-subject rights: export, forget, lift, purge",
    "dashboard": "serve the stakeholder dashboard (Voilà)",
    "settings": "list every setting with its current value",
}

# The stage parameters with a flag derived from their name, in words (cli._derived_parameters).
PARAMETER_HELP = {
    "action_segments": "comma-separated risk segments that get a retention action (default High,Medium)",
    "control_share": "share of contactable customers held out as a control group, 0 to <1 "
                     "(default: the WORKBENCH_CONTROL_SHARE setting, 0.1)",
    "max_train_rows": "at most this many labelled customers train the model; more are sampled down (default 200000)",
    "allow_columns": "comma-separated columns the leakage guard must keep (default none)",
    "retrain": "auto: keep the deployed model while little of its training data changed and its quality holds "
               "(WORKBENCH_RETRAIN_MAX_CHANGE); always: train a new model (default auto)",
}

# The settings most people need; `settings` lists every one (config.py declares them).
COMMON_SETTINGS = ("WORKBENCH_DB", "WORKBENCH_LLM", "GROQ_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                   "WORKBENCH_CONTROL_SHARE", "WORKBENCH_SIGNING_KEY_FILE", "WORKBENCH_HEADS_FILE",
                   "WORKBENCH_DASHBOARD_TOKEN")


def prog() -> str:
    """How the user called us: `churn-workbench`, `python -m churn_workbench` or `run_pipeline.py`."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(path)
    if name == "__main__.py" and os.path.basename(os.path.dirname(path)) == "churn_workbench":
        return "python -m churn_workbench"  # (another package's __main__, pytest's say, is not us)
    return name if name in ("churn-workbench", "run_pipeline.py") else "run_pipeline.py"


DESCRIPTION = textwrap.fill(
    "Predict which customers will leave, analyse their feedback and propose retention actions, with consent, "
    "anonymization and a tamper-evident audit log enforced. Runs the stage notebooks (ingest, feedback, train, "
    "predict, act) with papermill and keeps each executed notebook as an audit artefact.", width=100)


def epilog(name: str | None = None) -> str:
    name = name or prog()
    commands = "\n".join(f"  {c:<10} {what}" for c, what in COMMANDS.items())
    settings = textwrap.fill(f"Every setting is an environment variable or a line in .env (the environment wins); "
                             f"`{name} settings` lists them all with their current values. The ones most often set: "
                             f"{', '.join(COMMON_SETTINGS)}.", width=100, initial_indent="  ", subsequent_indent="  ")
    return f"""commands:
{commands}
  ({name} COMMAND --help for subject, dashboard and compare)

examples:
  {name}                                   1,000 synthetic customers, offline analyzer
  {name} --synthetic 20000 --seed 7
  {name} --customers c.csv --feedback f.csv --consent k.csv [--data-config m.toml]
  {name} --llm groq                        GROQ_API_KEY from the environment or .env
  {name} --resume RUN_ID                   finish an interrupted run
  {name} verify --heads /mnt/worm/heads.jsonl
  {name} compare                           the two newest runs side by side
  {name} subject export --customer C0000101 --out access.json
  {name} dashboard                         http://127.0.0.1:8866

exit codes:
  0    success
  1    a stage failed (the summary names the executed notebook that holds the error), or verify failed
  2    bad input or usage: one line says which file, column or option, and nothing was changed
  130  interrupted by Ctrl-C (143: SIGTERM); the run can be finished with --resume RUN_ID

settings:
{settings}
"""


def parameter_help(name: str, stage: str, default) -> str:
    return PARAMETER_HELP.get(name, f"{stage} stage parameter (default {default})")


def _closest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_option(argv: list[str], options: Iterable[str]) -> str | None:
    """The message for the first `--option` in argv that is not an option (an abbreviation is not
    one), with the closest option as a suggestion; None if there is none. Checked before
    argparse, which would otherwise take the mistyped option's value for the command
    ("invalid choice: '500'")."""
    options = [o for o in options if o.startswith("--")]
    for token in argv:
        if token == "--":
            return None
        if not token.startswith("--"):
            continue
        flag = token.split("=", 1)[0]
        if flag in options:
            continue
        # Abbreviations are not taken (`--y` for `--yes`): one that fits one option is suggested.
        fits = [o for o in options if o.startswith(flag)]
        guess = fits[0] if len(fits) == 1 else _closest(flag, options)
        return f"unknown option {flag}" + (f"; did you mean {guess}?" if guess else "")
    return None


def unknown_command(word: str) -> str:
    guess = _closest(word, COMMANDS)
    return (f"unknown command '{word}'" + (f"; did you mean '{guess}'?" if guess else "")
            + f" (commands: {', '.join(COMMANDS)})")
