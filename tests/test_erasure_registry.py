"""forget finds the files the workbench wrote by their RECORD (subjects/registry.py), never by
searching content: the customer's exports go (also a report kept after its JSON twin was
deleted), their row is cut from an outcomes file the workbench wrote, and a file in its folders it
did not write (a UTF-16 or gzip copy, anything) is never opened -- it is named, the command does
not say "erased" and exits 3. Every writer of a customer-data file records what it writes."""
from __future__ import annotations

import ast
import builtins
import gzip
from pathlib import Path

import pytest

import small_store
from churn_workbench import cli, db
from churn_workbench.cli import ERASURE_UNVOUCHED_EXIT
from churn_workbench.errors import ErasureIncomplete
from churn_workbench.pseudonyms import SubjectRefs
from churn_workbench.subjects import forget, registry
from churn_workbench.workspace import Workspace

LIB = Path(__file__).resolve().parents[1] / "lib" / "churn_workbench"


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    return s


def _export(cid: str, *out: str) -> None:
    assert cli.main(["subject", "export", "--customer", cid, *(["--out", out[0]] if out else [])]) == 0


def _outcomes_file(s, rows: str) -> Path:
    """An outcomes file as `--simulate-outcomes` writes and records it."""
    ws = Workspace(s)
    path = ws.folder(ws.outcomes_dir) / "r1.csv"
    content = "customer_id,churned,observed_at\n" + rows
    with db.session(s.db_path) as con:
        registry.record(con, ws, path, "outcomes", content.encode())
    path.write_text(content)
    return path


def test_their_exports_go_by_record_and_a_report_kept_after_its_json_was_deleted_goes_too(store, capsys):
    exports = store.data_dir / "exports"
    _export("C7302")
    _export("C7303")
    for path in exports.glob("*.json"):
        if "C7302" in path.read_text():
            path.unlink()
    capsys.readouterr()
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.suffix for p in exports.iterdir()) == [".json", ".md"]
    assert all("C7303" in p.read_text() for p in exports.iterdir())
    assert "customer C7302 erased" in out and "files the workbench wrote for them removed: 1" in out, out
    with db.session(store.db_path) as con:  # the records of their files went with them
        assert con.execute("SELECT count(*) FROM workspace_files").fetchone()[0] == 2


@pytest.mark.parametrize("name, content", [
    ("copy_utf16.md", "# Data held about customer C7302\n".encode("utf-16")),
    ("copy.json.gz", gzip.compress(b'{"customer_id": "C7302"}', mtime=0)),  # the same bytes in every process
    ("deep/er/notes.txt", b"nothing about anyone"),
])
def test_a_file_the_workbench_did_not_write_is_never_read_and_is_named(store, name, content, capsys, monkeypatch):
    exports = store.data_dir / "exports"
    _export("C7302")
    foreign = exports / name
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_bytes(content)
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(Path(str(f))) or real_open(f, *a, **k))
    capsys.readouterr()
    assert cli.main(["subject", "forget", "--customer", "C7302", "--dry-run"]) == 0
    assert "not written by the workbench, not searched: " + str(foreign) in capsys.readouterr().out
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == ERASURE_UNVOUCHED_EXIT
    out = capsys.readouterr().out
    assert foreign.exists() and foreign not in opened
    assert [p for p in exports.rglob("*") if p.is_file()] == [foreign]  # their own export went
    last = out.strip().splitlines()[-1]
    assert "erased" not in out and "complete for what the workbench holds" in last
    assert f"not written by the workbench, not searched: {foreign} -- remove or check them" in last


def test_a_recorded_export_that_cannot_be_removed_makes_the_erasure_incomplete(store, monkeypatch):
    _export("C7302")
    kept = next((store.data_dir / "exports").glob("*.md"))
    monkeypatch.setattr(type(kept), "unlink", lambda self, missing_ok=False: None)  # removal silently fails
    with pytest.raises(ErasureIncomplete) as caught:
        forget(store, "C7302", republish=False)
    assert f"file {kept} written for them" in str(caught.value)


def test_their_row_is_cut_from_an_outcomes_file_the_workbench_wrote(store):
    path = _outcomes_file(store, "C7302,1,2026-01-02\nC7303,0,2026-01-02\n")
    done = forget(store, "C7302", republish=False)
    assert done["files_rewritten"] == 1 and done["unvouched"] == []
    assert path.read_text() == "customer_id,churned,observed_at\nC7303,0,2026-01-02\n"
    with db.session(store.db_path) as con:  # the record follows the rewrite: still vouched for
        assert registry.unvouched(con, Workspace(store)) == []


def test_an_outcomes_file_changed_after_it_was_written_is_not_parsed_but_named(store):
    path = _outcomes_file(store, "C7303,0,2026-01-02\n")
    with open(path, "a") as fh:
        fh.write("C7302,1,2026-01-02\n")
    done = forget(store, "C7302", republish=False)
    assert done["unvouched"] == [str(path)] and done["files_rewritten"] == 0
    assert "C7302" in path.read_text()  # not the workbench's to rewrite any more: named instead


def test_the_record_names_no_customer(store):
    _export("C7302")
    with db.session(store.db_path) as con:
        rows = con.execute("SELECT * FROM workspace_files").fetchall()
        refs = SubjectRefs(store.subject_key_file, store.subject_key, store.subject_keystore)
        assert {r[2] for r in rows} == {registry.subject_hash(con, refs, "C7302")}
    assert not any("C7302" in str(v) for row in rows for v in row)


def _calls(tree: ast.AST, *names: str) -> list[set[str]]:
    """For each of `names`: the names of the functions in `tree` that call something so named
    (directly or in a function nested in them). One walk of the tree for all names."""
    found = [set() for _ in names]

    def visit(node: ast.AST, enclosing: tuple[str, ...]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            enclosing = (*enclosing, node.name)
        elif isinstance(node, ast.Call):
            called = getattr(node.func, "attr", getattr(node.func, "id", None))
            for wanted, into in zip(names, found):
                if called == wanted:
                    into.update(enclosing)
        for child in ast.iter_child_nodes(node):
            visit(child, enclosing)

    visit(tree, ())
    return found


def test_every_writer_of_a_private_file_records_what_it_writes():
    """Files holding customer data are written with paths.write_private (0600); every function
    that does so records the file in the registry first, so erasure can find it."""
    writers = {}
    for path in LIB.rglob("*.py"):
        if path.name == "paths.py":
            continue
        tree = ast.parse(path.read_text())
        writers[path.relative_to(LIB).as_posix()] = tuple(_calls(tree, "write_private", "record"))
    found = {module: (writes, records) for module, (writes, records) in writers.items() if writes}
    assert found, "no writer found: the scan is broken"
    unrecorded = {module: sorted(writes - records) for module, (writes, records) in found.items() if writes - records}
    # registry.erase_files rewrites a recorded file through record() too
    assert unrecorded == {}, f"write customer-data files without recording them: {unrecorded}"


def test_every_file_kind_has_a_folder(store):
    ws = Workspace(store)
    assert set(registry.folders(ws)) == set(registry.FILE_KINDS)
