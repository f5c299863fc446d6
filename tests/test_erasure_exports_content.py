"""forget finds the customer's files in the exports folder by CONTENT, not by name: a readable
report kept after its JSON twin was deleted, renamed, copied into a sub-folder, or any file there
that holds their id (in any form), their pseudonymous reference or a personal value of their
customer row goes with them; another customer's files stay. The proof re-reads every file."""
from __future__ import annotations

import pytest

import small_store
from churn_workbench import cli, config, db
from churn_workbench.errors import ErasureIncomplete
from churn_workbench.pseudonyms import SubjectRefs
from churn_workbench.subjects import forget


@pytest.fixture
def store(workspace):
    s = small_store.settings(workspace.root)
    small_store.build(s)
    with db.session(s.db_path) as con:  # personal values an export writes
        con.execute("ALTER TABLE customers ADD COLUMN email VARCHAR")
        con.execute("UPDATE customers SET email = lower(customer_id) || '@mail.example'")
    return s


def _export(cid: str) -> None:
    assert cli.main(["subject", "export", "--customer", cid]) == 0


def test_a_report_kept_after_its_json_was_deleted_goes_and_the_message_says_what_was_checked(store, capsys):
    exports = store.data_dir / "exports"
    _export("C7302")
    _export("C7303")
    for path in exports.glob("*.json"):
        if "C7302" in path.read_text():
            path.unlink()
    capsys.readouterr()
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    out = capsys.readouterr().out
    left = sorted(p.suffix for p in exports.iterdir())
    assert left == [".json", ".md"] and all("C7303" in p.read_text() for p in exports.iterdir())
    assert "files removed from the exports folder: 1" in out and "by content" in out, out


@pytest.mark.parametrize("name, content", [
    ("archive/notes.md", "## Customer record\n| customer_id | name |\n| C7302 | Person 0 |\n"),
    ("report.txt", "name: Person 0"),                        # a personal value only, no id
    ("deep/er/mail.csv", "who\nc7302@mail.example\n"),       # the e-mail only
    ("fullwidth.txt", "\uff23\uff17\uff13\uff10\uff12 called"),  # the id full-width
    ("escaped.json", '{"id": "\\uff23\\uff17\\uff13\\uff10\\uff12"}'),  # ... JSON-escaped
    ("blob.bin", b"\x00\x01\xffC7302\x00\xfe"),              # binary, read as bytes
    ("no-extension", "C\u200b7302"),                          # an invisible character inside
])
def test_any_file_below_the_exports_folder_naming_them_goes(store, name, content, capsys):
    exports = store.data_dir / "exports"
    target, other = exports / name, exports / "keep" / "other.md"
    for path, text in ((target, content), (other, "C7303 Person 1 C73020 xC7302x")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert cli.main(["subject", "forget", "--customer", "C7302", "--dry-run"]) == 0
    assert "naming them (by content): 1" in capsys.readouterr().out
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    assert not target.exists() and other.exists()


def test_a_file_holding_their_pseudonymous_reference_goes(store, capsys):
    ref = SubjectRefs(store.subject_key_file, store.subject_key, store.subject_keystore).ref("C7302")
    exports = store.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "ref-only.log").write_text(f"event for {ref}\n")
    assert cli.main(["subject", "forget", "--customer", "C7302", "--yes"]) == 0
    assert not (exports / "ref-only.log").exists()


def test_a_file_that_cannot_be_removed_makes_the_erasure_incomplete(store, monkeypatch):
    exports = store.data_dir / "exports"
    (exports / "sub").mkdir(parents=True)
    kept = exports / "sub" / "copy.txt"
    kept.write_text("C7302")
    monkeypatch.setattr(type(kept), "unlink", lambda self, missing_ok=False: None)  # removal silently fails
    with pytest.raises(ErasureIncomplete) as caught:
        forget(config.Settings(data_dir=store.data_dir, audit_dir=store.audit_dir), "C7302", republish=False)
    assert f"file {kept} in the exports folder naming them" in str(caught.value)


def test_files_are_streamed_and_a_trace_split_across_two_reads_is_found(tmp_path, monkeypatch):
    from churn_workbench.subjects import traces
    monkeypatch.setattr(traces, "CHUNK_BYTES", 8)
    found_by = traces.Traces("C7302", "subj_abc", ("Zoë Ångström",))
    for name, data in (("name.txt", "xxxxxxx Zoë Ångström yy".encode()), ("id.txt", b"abcde C7302 z"),
                       ("longer-id.txt", b"abcde C73020 z"), ("ref.txt", b"abcde subj_abc")):
        (tmp_path / name).write_bytes(data)
    assert sorted(p.name for p in traces.files_naming(tmp_path, found_by)) == ["id.txt", "name.txt", "ref.txt"]
