"""A workbench error raised in a notebook (a stage notebook run by hand with a bad parameter) is
shown by IPython as its one line, not a traceback through the library's source; its class name
still reaches the runner as the cell's error name."""
from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell

from churn_workbench.errors import InputError, UsageError


def test_ipython_shows_a_workbench_error_as_one_line(capsys):
    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from churn_workbench.errors import UsageError\n"
                       "raise UsageError('parameter control_share 1.5: a share in [0, 1)')")
    finally:
        InteractiveShell.clear_instance()
    shown = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert shown == ["UsageError: parameter control_share 1.5: a share in [0, 1)"], shown


def test_every_workbench_error_renders_as_its_class_and_message():
    assert InputError("c.csv: row 3 has no id")._render_traceback_() == ["InputError: c.csv: row 3 has no id"]
    assert UsageError("a\nb")._render_traceback_() == ["UsageError: a b"]
