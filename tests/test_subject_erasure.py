"""Erasure says "erased" only when it has checked that nothing of the person is left; it takes
the id in canonical form and never half-erases a look-alike; it can be dry-run; on a terminal
it asks first, and without one it needs --yes."""
from __future__ import annotations

import builtins
import json

import pytest

import small_store
from churn_workbench.workspace import Workspace
from churn_workbench import cli, db
from churn_workbench.subjects import forget

TABLES = ("customers", "feedback", "feedback_analysis", "predictions", "actions", "consent")


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    return s


def _held(s, cid="C7302") -> dict:
    return {t: small_store.count(s, t, cid) for t in TABLES}


def _forget(*args):
    return cli.main(["subject", "forget", *args])


def test_a_look_alike_id_is_refused_and_nothing_is_removed(store, capsys):
    before = _held(store)
    assert _forget("--customer", " c7302 ", "--yes") == 2
    captured = capsys.readouterr()
    assert "erased" not in captured.out
    assert "'C7302'" in captured.err and "case, width or look-alike" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert _held(store) == before == {t: (2 if t == "consent" else 1) for t in TABLES}


def test_the_padded_id_in_canonical_form_erases_everything_and_export_finds_nothing(store, capsys):
    assert _forget("--customer", " C7302 ", "--yes") == 0
    out = capsys.readouterr().out
    assert out.startswith("customer C7302 erased") and "nothing of them found in every text column of every table" in out
    assert _held(store) == {t: 0 for t in TABLES}
    assert _held(store, "C7303") == {t: (2 if t == "consent" else 1) for t in TABLES}, "the other customer is untouched"
    assert cli.main(["subject", "export", "--customer", "C7302"]) == 2
    assert "already erased" in capsys.readouterr().err


def test_erasure_that_leaves_anything_exits_1_naming_it_and_never_says_erased(store, capsys):
    with db.session(store.db_path) as con:   # a table the erasure does not know about
        con.execute("CREATE TABLE crm_notes AS SELECT 'C7302' AS customer_id, 'called twice' AS note")
    assert _forget("--customer", "C7302", "--yes") == 1
    captured = capsys.readouterr()
    assert "erased:" not in captured.out and "NOT fully erased" in captured.err
    assert "1 row(s) in table crm_notes" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_a_snapshot_that_still_shows_the_person_fails_the_proof(store):
    from churn_workbench.dashboard import publish
    publish.publish(Workspace.open(store.db_path, audit_dir=str(store.audit_dir)))
    with pytest.raises(Exception, match="dashboard snapshot") as err:
        forget(store, "C7302", republish=False)
    assert getattr(err.value, "exit_code", None) == 1


def test_a_dry_run_lists_what_would_go_and_changes_nothing(store, capsys):
    before = _held(store)
    raw = store.db_path.read_bytes()
    assert _forget("--customer", "C7302", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: erasing customer C7302 would remove")
    assert "customers 1" in out and "consent 2" in out and "LLM requests to redact: 1" in out and "cached LLM answers: 1" in out
    assert _held(store) == before and store.db_path.read_bytes() == raw


def test_without_a_terminal_and_without_yes_forget_and_purge_refuse_in_one_line(store, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: False)
    assert _forget("--customer", "C7302") == 2
    assert cli.main(["subject", "purge", "--older-than", "0"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("add --yes" in line for line in lines)
    assert _held(store)["customers"] == 1


@pytest.mark.parametrize("answer, erased", [("no", False), ("", False), ("yes", True)])
def test_on_a_terminal_forget_asks_first(store, capsys, monkeypatch, answer, erased):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    asked = []
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or answer)
    assert _forget("--customer", "C7302") == (0 if erased else 2)
    assert len(asked) == 1
    assert "Erase customer C7302 for good?" in capsys.readouterr().err
    assert _held(store)["customers"] == (0 if erased else 1)


def test_exports_in_the_workspace_go_with_the_person(store, capsys):
    assert cli.main(["subject", "export", "--customer", "C7302"]) == 0
    assert cli.main(["subject", "export", "--customer", "C7303"]) == 0
    exports = store.data_dir / "exports"
    assert len(list(exports.glob("*.json"))) == 2
    assert _forget("--customer", "C7302", "--yes") == 0
    left = [json.loads(p.read_text())["customer_id"] for p in exports.glob("*.json")]
    assert left == ["C7303"] and len(list(exports.glob("*.md"))) == 1


def test_consent_under_a_look_alike_of_another_customer_stays(store, capsys):
    """A withdrawal whose id looks like two customers' may be the other one's: it is kept (fail closed)."""
    with db.session(store.db_path) as con:
        con.execute("INSERT INTO customers VALUES ('c7302', 'Another Person', 0)")
        con.execute("INSERT INTO consent VALUES ('\u04217302', 'marketing', false, now(), 'call', 'r1')")
    assert _forget("--customer", "C7302", "--yes") == 0
    assert "1 consent record(s) under a look-alike id kept" in capsys.readouterr().out
    with db.session(store.db_path) as con:
        assert con.execute("SELECT count(*) FROM consent WHERE customer_id = '\u04217302'").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM customers WHERE customer_id = 'c7302'").fetchone()[0] == 1
