"""Ctrl-C during `subject forget`: one line, no traceback, and a consistent state -- before the
erasure's transaction nothing changed; after it, the erasure is marked pending and the same
command completes it (files, key, snapshot, proof), even though no row is held any more."""
from __future__ import annotations

import pytest

import small_store
from churn_workbench import cli, db
from churn_workbench.subjects import erase, registry


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    assert cli.main(["subject", "export", "--customer", "C7302"]) == 0
    return s


def _interrupt_once(monkeypatch, module, name):
    real = getattr(module, name)
    calls = []

    def interrupted(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise KeyboardInterrupt("SIGINT")
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, interrupted)


def _pending(s) -> int:
    with db.session(s.db_path) as con:
        return con.execute("SELECT count(*) FROM erasures_pending").fetchone()[0]


@pytest.mark.parametrize("step", ["erase_files", "compact"])
def test_interrupted_after_the_transaction_the_same_command_completes_it(store, monkeypatch, capsys, step):
    _interrupt_once(monkeypatch, registry if step == "erase_files" else erase, step)
    capsys.readouterr()
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 130
    out, err = capsys.readouterr()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "run the same command again" in err
    assert "erased" not in out
    assert small_store.count(store, "customers", "C7302") == 0 and _pending(store) == 1
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "customer C7302 erased" in out and "an interrupted erasure completed" in out, out
    assert _pending(store) == 0 and not list((store.data_dir / "exports").iterdir())


def test_interrupted_before_the_transaction_nothing_changed(store, monkeypatch, capsys):
    _interrupt_once(monkeypatch, erase, "_erase_rows")
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 130
    assert small_store.count(store, "customers", "C7302") == 1 and _pending(store) == 0
    assert len(list((store.data_dir / "exports").iterdir())) == 2
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    assert "an interrupted erasure completed" not in capsys.readouterr().out
