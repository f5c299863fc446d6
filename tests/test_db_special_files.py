"""The database path is a regular file or a new name: a named pipe, a device, a socket or a folder
given as --db is refused in one line (exit 2) by every command that takes --db, before anything
-- a lock file, a subject key, a folder -- is created. The commands are read from the parsers."""
from __future__ import annotations

import os
import socket

import pytest

from churn_workbench import cli
from churn_workbench.boundary import paths
from churn_workbench.errors import UsageError

from cli_commands import commands_with_db


COMMANDS = commands_with_db()


@pytest.fixture()
def env(tmp_path, monkeypatch):
    for name, value in {"WORKBENCH_DATA_DIR": tmp_path / "data", "WORKBENCH_AUDIT_DIR": tmp_path / "data" / "audit",
                        "WORKBENCH_SIGNING_KEY_FILE": tmp_path / "keys" / "k.pem",
                        "WORKBENCH_HEADS_FILE": tmp_path / "heads" / "h.jsonl"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    return tmp_path


def _special(kind: str, folder):
    if kind == "/dev/null":
        return "/dev/null"
    target = folder / f"db.{kind}"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
        sock.close()
    else:
        target.mkdir()
    return str(target)


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("kind", ["fifo", "/dev/null", "socket"])
@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_every_command_refuses_a_special_file_as_db_before_writing(env, argv, kind, capsys):
    ws = env / "ws"
    ws.mkdir()
    db = _special(kind, ws)
    before = _listing(env)
    rc = cli.main(argv + ["--db", db])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "not a regular file" in err and db in err
    assert _listing(env) == before  # no lock file, key, export folder or data folder
    assert not os.path.exists("/dev/null.lock")


def test_the_rule_is_the_one_inputs_use(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    for check in (lambda: paths.input_file(fifo, "--customers"), lambda: paths.database_file(fifo)):
        with pytest.raises(UsageError, match="not a regular file"):
            check()
    assert paths.database_file(tmp_path / "new.duckdb") == tmp_path / "new.duckdb"  # a new name is fine
