"""The audit chain and manifests detect every kind of tampering; an untouched log verifies."""
from __future__ import annotations

import json

import pytest

from churn_workbench import audit, db, pseudonyms

FIELDS = ["seq", "ts", "run_id", "stage", "event_type", "status", "subject_ref", "details", "prev_hash", "hash"]


@pytest.fixture
def chained(workspace):
    """Two runs of events with manifests and one executed-notebook artefact each."""
    with db.session(workspace.db_path) as con:
        for run in ("run-a", "run-b"):
            con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, now(), 'succeeded')", [run])
            log = audit.AuditLog(run, "ingest")
            for i in range(4):
                log.event("data_ingested", "ok", subject_ref=f"subj_{i}", rows=i, note="x")
            log.flush(con)
            notebook = workspace.audit_dir / "runs" / run / "01_ingest.ipynb"
            notebook.parent.mkdir(parents=True, exist_ok=True)
            notebook.write_text(json.dumps({"cells": [], "run": run}))
            audit.write_manifest(notebook.parent, run, audit.chain_head(con), {"notebook:ingest": notebook})
    return workspace


def _verify(ws):
    return audit.verify(ws.db_path, ws.audit_dir)


def test_untouched_log_verifies(chained):
    result = _verify(chained)
    assert result.ok, result.problems
    assert result.events == 8 and result.runs_checked == 2


def test_flush_is_one_batched_insert_and_gap_free(chained):
    with db.session(chained.db_path) as con:
        seqs = [r[0] for r in con.execute("SELECT seq FROM audit_log ORDER BY seq").fetchall()]
    assert seqs == list(range(1, 9))


@pytest.mark.parametrize("field", [f for f in FIELDS if f != "seq"])
@pytest.mark.parametrize("seq", [1, 5, 8])
def test_changing_any_field_of_any_row_fails(chained, field, seq):
    with db.session(chained.db_path) as con:
        con.execute(f"UPDATE audit_log SET {field} = coalesce({field}, '') || 'X' WHERE seq = ?", [seq])
    result = _verify(chained)
    assert not result.ok
    assert "audit_log seq" in result.problems[0]


def test_changing_seq_fails(chained):
    with db.session(chained.db_path) as con:
        con.execute("UPDATE audit_log SET seq = 100 WHERE seq = 3")
    assert not _verify(chained).ok


def test_deleting_a_row_fails(chained):
    with db.session(chained.db_path) as con:
        con.execute("DELETE FROM audit_log WHERE seq = 4")
    result = _verify(chained)
    assert not result.ok and "seq 5" in result.problems[0]


def test_reordering_rows_fails(chained):
    with db.session(chained.db_path) as con:
        con.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
        con.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
        con.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")
    assert not _verify(chained).ok


def test_truncating_the_tail_fails(chained):
    with db.session(chained.db_path) as con:
        con.execute("DELETE FROM audit_log WHERE seq >= 7")
    result = _verify(chained)
    assert not result.ok
    assert any("truncated" in p for p in result.problems)


def test_rewriting_the_whole_chain_still_fails_against_the_manifest(chained):
    """An attacker who recomputes every hash after an edit is caught by the manifest's chain head."""
    with db.session(chained.db_path) as con:
        rows = con.execute(f"SELECT {', '.join(FIELDS)} FROM audit_log ORDER BY seq").df().to_dict("records")
        rows[0]["details"] = '{"rows":999}'
        prev = audit.GENESIS
        for row in rows:
            row["prev_hash"] = prev
            row["hash"] = prev = audit.row_hash(prev, row)
        con.execute("DELETE FROM audit_log")
        import pandas as pd
        db.insert_df(con, "audit_log", pd.DataFrame(rows))
    result = _verify(chained)
    assert not result.ok and "chain head" in result.problems[0]


def test_editing_one_byte_of_a_notebook_fails(chained):
    notebook = chained.audit_dir / "runs" / "run-a" / "01_ingest.ipynb"
    data = bytearray(notebook.read_bytes())
    data[5] ^= 0x01
    notebook.write_bytes(bytes(data))
    result = _verify(chained)
    assert not result.ok and "01_ingest.ipynb" in result.problems[0]


def test_missing_manifest_of_finished_run_fails(chained):
    (chained.audit_dir / "runs" / "run-b" / "manifest.json").unlink()
    assert not _verify(chained).ok


def test_subject_refs_are_keyed_and_stable(workspace):
    refs = pseudonyms.SubjectRefs(workspace.data_dir / ".subject_key")
    again = pseudonyms.SubjectRefs(workspace.data_dir / ".subject_key")
    other = pseudonyms.SubjectRefs(workspace.root / "other_key")
    assert refs.ref("C1") == again.ref("C1") != other.ref("C1")
    assert "C1" not in refs.ref("C1")
    assert (workspace.data_dir / ".subject_key").stat().st_mode & 0o077 == 0
