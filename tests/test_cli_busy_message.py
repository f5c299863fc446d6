"""A command refused because another run holds the database is told what holds it, and is
suggested only what that command accepts: the pipeline its --wait flag, the subject commands
(which have none) to try again later."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import pytest

from churn_workbench import cli, db
from churn_workbench.config import load_settings
from churn_workbench.workspace import Workspace
from conftest import ROOT

HOLD = """
import sys
from churn_workbench.workspace import Workspace
with Workspace.open(sys.argv[1]).lock(holder="a subject export"):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def held(tmp_path):
    """The database's workspace lock, held through a separate open file (as another process would)."""
    path = tmp_path / "wb.duckdb"
    with db.session(path):
        pass
    lock_path = Workspace(load_settings(db_path=str(path))).lock_path
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("pid 1 test")
        fh.flush()
        yield path
        fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.mark.parametrize("argv", [
    ["subject", "export", "--customer", "C1"],
    ["subject", "forget", "--customer", "C1", "--yes"],
    ["subject", "lift", "--customer", "C1"],
    ["subject", "purge", "--older-than", "30", "--yes"],
])
def test_subject_commands_busy_never_suggest_a_flag_they_reject(held, argv, capsys):
    assert cli.main([*argv, "--db", str(held)]) == 2
    err = capsys.readouterr().err.strip()
    assert "this database is in use by" in err and "try again" in err, err
    assert "--wait" not in err and len(err.splitlines()) == 1, err


def test_the_pipeline_busy_suggests_its_wait_flag(held, capsys):
    assert cli.main(["--synthetic", "60", "--db", str(held)]) == 2
    err = capsys.readouterr().err.strip()
    assert "this database is in use by" in err and "--wait" in err, err


def test_the_refused_command_is_told_what_holds_the_database(tmp_path, capsys):
    path = tmp_path / "wb.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "lib")))
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["--synthetic", "60", "--db", str(path)]) == 2
    finally:
        holder.communicate("", timeout=60)
    err = capsys.readouterr().err.strip()
    assert f"this database is in use by a subject export (pid {holder.pid})" in err and "--wait" in err, err
