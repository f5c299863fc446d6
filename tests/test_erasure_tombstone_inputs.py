"""Every input that carries customer ids passes the one tombstone check (tombstones.admit): an
erased customer's rows are skipped at the boundary, counted, and audited without the id. The input
kinds are discovered from the code -- every module whose reader canonicalises customer ids
(inputs.values.read_ids) -- so a new kind of input cannot be added without being checked here."""
from __future__ import annotations

import ast
import functools
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import small_store
from conftest import Workspace, isolate_home, workspace_env
from churn_workbench import db, inputs, outcomes
from churn_workbench.pseudonyms import SubjectRefs
from churn_workbench.subjects import forget, tombstones

LIB = Path(__file__).resolve().parents[1] / "lib" / "churn_workbench"
DAY = (datetime.now() - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
# The erased id as another file may spell it: full-width letters are the same id (canonical form).
ERASED_AS_GIVEN = "\uff23\uff17\uff13\uff10\uff12"

# module -> (its reader of a file, the file: one row of the erased customer, one of another)
READERS = {
    "inputs/customers.py": (lambda p: inputs.read_customers(p, inputs.DataConfig()).frame,
                            f"customer_id,churned,tenure\n{ERASED_AS_GIVEN},yes,3\nC7303,no,4\n"),
    "inputs/feedback.py": (inputs.read_feedback,
                           f"feedback_id,customer_id,text\nF1,{ERASED_AS_GIVEN},too slow\nF2,C7303,fine\n"),
    "inputs/consent.py": (inputs.read_consent,
                          f"customer_id,purpose,granted\n{ERASED_AS_GIVEN},profiling,yes\nC7303,profiling,no\n"),
    "outcomes.py": (outcomes.read_outcomes,
                    f"customer_id,churned,observed_at\n{ERASED_AS_GIVEN},1,{DAY}\nC7303,0,{DAY}\n"),
}


@functools.cache   # read when the tests are collected; the test itself uses the same scan
def _readers_of_ids() -> frozenset[str]:
    """Modules (below lib/churn_workbench) that call read_ids: where a kind of input's ids are read."""
    found = set()
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "read_ids":
                found.add(path.relative_to(LIB).as_posix())
    return frozenset(found)


def test_every_input_kind_that_reads_customer_ids_is_checked_here():
    found = _readers_of_ids()
    assert "outcomes.py" in found and "inputs/customers.py" in found, found  # the scan works
    assert found == set(READERS), ("a module reads customer ids but its input is not checked against the "
                                   f"tombstones: route it through tombstones.admit and add it to READERS: {found - set(READERS)}")


@pytest.fixture(scope="module")
def _erased_once(tmp_path_factory, _shared_caches):
    """The small store after C7302's erasure, made once for this file (each test gets a copy)."""
    root = tmp_path_factory.mktemp("erased")
    ws = Workspace.at(root)
    with pytest.MonkeyPatch.context() as mp:
        isolate_home(mp, root / "home", _shared_caches)
        for name, value in workspace_env(ws).items():
            mp.setenv(name, value)
        s = small_store.settings(root)
        small_store.build(s)
        forget(s, "C7302", republish=False)
    return root


@pytest.fixture
def erased(workspace, _erased_once):
    for part in _erased_once.iterdir():   # data, audit, keys and heads; not the build's home
        if part.name != "home":
            shutil.copytree(part, workspace.root / part.name, symlinks=True, dirs_exist_ok=True)
    return small_store.settings(workspace.root)


@pytest.mark.parametrize("module", sorted(_readers_of_ids()))
def test_each_input_kind_skips_a_tombstoned_id(erased, module, tmp_path):
    read, text = READERS[module]
    path = tmp_path / "input.csv"
    path.write_text(text, encoding="utf-8")
    frame = read(path)
    refs = SubjectRefs(erased.subject_key_file, erased.subject_key, erased.subject_keystore)
    with db.session(erased.db_path) as con:
        kept, counts = tombstones.admit(con, refs, {module: frame})
    assert counts[module] == 1 and list(kept[module]["customer_id"]) == ["C7303"]


def test_an_outcomes_file_naming_an_erased_customer_skips_them_counted_and_audited_without_the_id(erased, tmp_path):
    with db.session(erased.db_path) as con:
        con.execute("UPDATE actions SET created_at = now() - INTERVAL 1 HOUR")
    path = tmp_path / "outcomes.csv"
    path.write_text(READERS["outcomes.py"][1], encoding="utf-8")
    lines = []
    assert outcomes.command(erased, str(path), "r1", None, echo=lines.append) == 0
    assert "1 row(s) of erased customers skipped" in lines[0], lines
    with db.session(erased.db_path) as con:
        assert [r[0] for r in con.execute("SELECT customer_id FROM outcomes").fetchall()] == ["C7303"]
        details = con.execute("SELECT details FROM audit_log WHERE event_type = 'outcomes_attached'").fetchone()[0]
    assert json.loads(details)["erased_skipped"] == 1 and "C7302" not in details and ERASED_AS_GIVEN not in details
