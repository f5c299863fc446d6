"""The command line explains itself: --help lists every command with examples, exit codes and
settings; a mistyped option or command gets a suggestion; `settings` lists every setting."""
from __future__ import annotations

import os
import subprocess
import sys

from churn_workbench import cli, cli_help, config


def test_help_names_commands_examples_exit_codes_and_settings():
    raw = cli._parser().format_help()
    for command in cli_help.COMMANDS:
        assert f"\n  {command} " in raw, command
    text = " ".join(raw.split())  # argparse wraps the help column
    for part in ("examples:", "exit codes:", "settings:", "subject export --customer", "--resume RUN_ID",
                 "WORKBENCH_CONTROL_SHARE", "WORKBENCH_DASHBOARD_TOKEN"):
        assert part in text, part
    assert "(default -1.0)" not in text and "share of contactable customers held out as a control group" in text
    assert "comma-separated risk segments that get a retention action (default High,Medium)" in text


def test_help_settings_exist():
    declared = {f.metadata["env"] for f in config.knobs()} | {"GROQ_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                                                               "WORKBENCH_DASHBOARD_TOKEN"}
    assert set(cli_help.COMMON_SETTINGS) <= declared


def test_help_module_is_light():
    code = "import sys, churn_workbench.cli_help; print(sorted({'pandas', 'duckdb', 'papermill'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert done.stdout.strip() == "[]", done.stderr


def test_unknown_option_suggests_the_closest():
    options = cli._parser()._option_string_actions
    assert cli_help.unknown_option(["--synthetc", "500"], options) == "unknown option --synthetc; did you mean --synthetic?"
    assert cli_help.unknown_option(["--controll-share=0.2"], options).endswith("did you mean --control-share?")
    assert cli_help.unknown_option(["--synth", "5"], options).endswith("did you mean --synthetic?")  # no abbreviations
    assert cli_help.unknown_option(["--zzzzzz"], options) == "unknown option --zzzzzz"
    assert cli_help.unknown_option(["--", "--whatever"], options) is None


def test_mistakes_exit_2_with_one_line(capsys):
    assert cli.main(["--synthetc", "500"]) == 2
    err = capsys.readouterr().err
    assert "unknown option --synthetc; did you mean --synthetic?" in err and "invalid choice" not in err
    assert cli.main(["verfy"]) == 2
    assert "unknown command 'verfy'; did you mean 'verify'?" in capsys.readouterr().err
    assert cli.main(["compare", "only-one"]) == 2
    assert "name two runs" in capsys.readouterr().err


def test_settings_lists_every_setting_and_no_secret(capsys, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk-do-not-print-me")
    monkeypatch.setenv("WORKBENCH_CONTROL_SHARE", "0.25")
    assert cli.main(["settings"]) == 0
    out = capsys.readouterr().out
    for f in config.knobs():
        assert f.metadata["env"] in out
    assert "gsk-do-not-print-me" not in out and "GROQ_API_KEY" in out
    line = next(line for line in out.splitlines() if line.startswith("WORKBENCH_CONTROL_SHARE"))
    assert line.split()[-1] == "0.25"
