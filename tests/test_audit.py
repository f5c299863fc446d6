"""The audit chain and manifests detect every kind of tampering; an untouched log verifies."""
from __future__ import annotations

import json
import shutil

import pytest

import conftest

from churn_workbench.workspace import Workspace

from churn_workbench import audit, db, pseudonyms, verification

FIELDS = ["seq", "ts", "run_id", "stage", "event_type", "status", "subject_ref", "details", "prev_hash", "hash"]


def _chain(workspace) -> None:
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
            audit.write_manifest(notebook.parent, run, audit.chain_head(con), audit.artefact_hashes({"notebook:ingest": notebook}))


@pytest.fixture(scope="module")
def _chained_once(tmp_path_factory, _shared_caches):
    """`_chain` made once for this file; each test gets it back as made, at the same path (the
    manifests name their artefacts by absolute path)."""
    base = tmp_path_factory.mktemp("chained")
    ws = conftest.Workspace.at(base / "ws")
    with pytest.MonkeyPatch.context() as mp:
        conftest.isolate_home(mp, base / "home", _shared_caches)
        for name, value in conftest.workspace_env(ws).items():
            mp.setenv(name, value)
        _chain(ws)
    shutil.copytree(ws.root, base / "pristine", symlinks=True)
    return ws, base / "pristine"


@pytest.fixture
def chained(_chained_once, monkeypatch):
    """Two runs of events with manifests and one executed-notebook artefact each (see `_chain`)."""
    ws, pristine = _chained_once
    shutil.rmtree(ws.root)
    shutil.copytree(pristine, ws.root, symlinks=True)
    for name, value in conftest.workspace_env(ws).items():
        monkeypatch.setenv(name, value)
    return ws


def _verify(ws):
    return verification.verify(Workspace.open(ws.db_path))


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


# --- row digests ----------------------------------------------------------------------------------

@pytest.fixture
def scored(workspace):
    """A predictions table with rows of two runs, each committed to by a rows_committed event."""
    with db.session(workspace.db_path) as con:
        for run in ("run-a", "run-b"):
            con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, now(), 'interactive')", [run])
            con.execute("INSERT INTO predictions (run_id, customer_id, churn_probability, segment, drivers, scored_at) "
                        "SELECT ?, 'C' || i, i / 10.0, 'Low', NULL, TIMESTAMP '2026-01-01' FROM range(5) t(i)", [run])
            log = audit.AuditLog(run, "predict")
            audit.record_digests(con, log, run, ["predictions"])
            log.flush(con)
    return workspace


def test_table_digest_is_the_digest_of_the_row_hashes(scored):
    with db.session(scored.db_path) as con:
        hashes = audit.row_hashes(con, "predictions", "run_id = ?", ["run-a"])
        assert len(hashes) == len(set(hashes)) == 5
        assert audit.table_digest(con, "predictions", "run-a") == audit.digest_of(hashes)
        assert audit.table_digest(con, "predictions", "run-a") != audit.table_digest(con, "predictions", "run-b")
        assert audit.table_digest(con, "predictions", "no-such-run") == audit.digest_of([])
    assert _verify(scored).ok


def test_row_hash_is_sha256_of_duckdbs_json_of_the_row(scored):
    with db.session(scored.db_path) as con:
        expected = [r[0] for r in con.execute("SELECT sha256(CAST(to_json(t) AS VARCHAR)) FROM predictions t "
                                              "WHERE run_id = 'run-a'").fetchall()]
        assert audit.row_hashes(con, "predictions", "run_id = ?", ["run-a"]) == expected


def test_a_column_added_later_leaves_old_digests_valid(scored):
    """Commits record the columns they hashed; verify hashes those, not today's."""
    with db.session(scored.db_path) as con:
        columns = audit.columns_of(con, "predictions")
        before = audit.table_digest(con, "predictions", "run-a")
        con.execute("ALTER TABLE predictions ADD COLUMN explanation VARCHAR")
        assert audit.table_digests(con, "predictions", ["run-a"], columns=columns)["run-a"]["sha256"] == before
    assert _verify(scored).ok
    with db.session(scored.db_path) as con:
        con.execute("ALTER TABLE predictions DROP COLUMN drivers")
    result = _verify(scored)
    assert not result.ok and "column(s) drivers" in result.problems[0]


def test_rows_rewritten_by_an_erasure_count_through_removed_and_added_hashes(scored):
    where = "customer_id = 'C3' AND run_id = 'run-a'"
    with db.session(scored.db_path) as con:
        old = audit.row_hashes(con, "predictions", where)
        con.execute(f"UPDATE predictions SET drivers = 'redacted' WHERE {where}")
        new = audit.row_hashes(con, "predictions", where)
        log = audit.AuditLog("erasure", "subject")
        log.event("retention_purged", removed_row_hashes={"predictions": {"run-a": old}},
                  added_row_hashes={"predictions": {"run-a": new}})
        log.flush(con)
    assert _verify(scored).ok, _verify(scored).problems
    # Deleting the rewritten row afterwards is not covered by the declaration.
    with db.session(scored.db_path) as con:
        con.execute(f"DELETE FROM predictions WHERE {where}")
    result = _verify(scored)
    assert not result.ok and "declared writing are missing" in result.problems[0], result.problems


@pytest.mark.parametrize("statement", [
    "UPDATE predictions SET churn_probability = 0.99 WHERE customer_id = 'C1' AND run_id = 'run-a'",
    "UPDATE predictions SET drivers = 'x' WHERE customer_id = 'C1' AND run_id = 'run-a'",   # NULL -> value
    "DELETE FROM predictions WHERE customer_id = 'C1' AND run_id = 'run-a'",
    "INSERT INTO predictions (run_id, customer_id, churn_probability) VALUES ('run-a', 'C9', 0.5)",
])
def test_any_change_to_a_committed_row_fails_naming_table_and_run(scored, statement):
    with db.session(scored.db_path) as con:
        con.execute(statement)
    result = _verify(scored)
    assert not result.ok and result.findings[0].where == "predictions/run-a", result.problems
    assert "table predictions, run run-a" in result.problems[0] and len(result.problems) == 1


def test_rows_of_an_unknown_run_fail(scored):
    with db.session(scored.db_path) as con:
        con.execute("INSERT INTO predictions (run_id, customer_id, churn_probability) VALUES ('ghost', 'C1', 0.5)")
    result = _verify(scored)
    assert not result.ok and "run ghost, which has no event in the audit chain" in result.problems[0]


def test_erased_rows_count_through_their_recorded_hashes(scored):
    with db.session(scored.db_path) as con:
        removed = audit.row_hashes(con, "predictions", "customer_id = ? AND run_id = ?", ["C2", "run-b"])
        con.execute("DELETE FROM predictions WHERE customer_id = 'C2'")
    assert [f.where for f in _verify(scored).findings] == ["predictions/run-a", "predictions/run-b"]
    with db.session(scored.db_path) as con:
        log = audit.AuditLog("erasure", "subject")
        log.event(audit.SUBJECT_ERASED, removed_row_hashes={"predictions": {"run-b": removed}})
        log.flush(con)
    result = _verify(scored)
    # run-b's erased row is accounted for; run-a's C2 was deleted without a record of it.
    assert [f.where for f in result.findings] == ["predictions/run-a"], result.problems
    assert "now 4 present" in result.problems[0]


def test_digests_of_all_runs_match_one_run_at_a_time(scored):
    with db.session(scored.db_path) as con:
        together = audit.table_digests(con, "predictions")
        assert set(together) == {"run-a", "run-b"}
        for run, d in together.items():
            assert d == audit.table_digests(con, "predictions", [run])[run]


# --- verify reports the first divergence once -----------------------------------------------------

def test_an_edited_first_row_is_one_problem_not_a_cascade(chained):
    """Before: the edited row, then "log truncated" for both manifests."""
    with db.session(chained.db_path) as con:
        con.execute("UPDATE audit_log SET details = '{}' WHERE seq = 1")
    result = _verify(chained)
    assert result.problems == ["audit_log seq 1: content does not match its hash (row altered)"]
    assert str(result).startswith("audit FAILED: audit_log seq 1")


def test_the_chain_seals_artefacts_against_replacing_file_and_manifest_together(chained):
    notebook = chained.audit_dir / "runs" / "run-b" / "01_ingest.ipynb"
    with db.session(chained.db_path) as con:
        log = audit.AuditLog("run-b", "pipeline")
        log.event(audit.ARTEFACTS_SEALED, artefacts={"notebook:ingest": audit.file_sha256(notebook)})
        log.flush(con)
        audit.write_manifest(notebook.parent, "run-b", audit.chain_head(con), audit.artefact_hashes({"notebook:ingest": notebook}))
    assert _verify(chained).ok
    notebook.write_text(json.dumps({"cells": [], "run": "forged"}))
    manifest = json.loads((notebook.parent / "manifest.json").read_text())
    manifest["artefacts"]["notebook:ingest"]["sha256"] = audit.file_sha256(notebook)
    (notebook.parent / "manifest.json").write_text(json.dumps(manifest))
    result = _verify(chained)
    assert not result.ok and result.findings[0].kind == "artefact" and "01_ingest.ipynb" in result.problems[0]
    assert "both replaced" in result.problems[0]


# --- signed heads ---------------------------------------------------------------------------------

def _export(ws):
    from churn_workbench import config, signing
    settings = config.load_settings()
    with db.session(ws.db_path) as con:
        head = audit.chain_head(con)
    return settings, signing.export_head(Workspace(settings), head)


def test_exported_head_verifies_and_survives_only_an_intact_chain(chained):
    settings, record = _export(chained)
    assert record["seq"] == 8 and record["run_id"] == "run-b" and record["db"] == str(chained.db_path)
    result = verification.verify(Workspace.open(chained.db_path), settings.heads_file)
    assert result.ok and result.heads_checked == 1, result.problems
    # Wipe: without heads an empty log "verifies"; the exported head says otherwise.
    with db.session(chained.db_path) as con:
        con.execute("DELETE FROM audit_log")
        con.execute("DELETE FROM runs")
    shutil.rmtree(chained.audit_dir / "runs")
    assert _verify(chained).ok
    result = verification.verify(Workspace.open(chained.db_path), settings.heads_file)
    assert not result.ok and "audit_log is empty" in result.problems[0] and "line 1" in result.problems[0]


def test_an_edited_or_foreign_head_fails_its_signature(chained):
    settings, record = _export(chained)
    lines = settings.heads_file.read_text().splitlines()
    forged = dict(json.loads(lines[0]), seq=7, hash="f" * 64)
    settings.heads_file.write_text("\n".join([lines[0], json.dumps(forged), "not json"]) + "\n")
    result = verification.verify(Workspace.open(chained.db_path), settings.heads_file)
    kinds = [p for p in result.problems]
    assert any("line 2" in p and "signature does not verify" in p for p in kinds), kinds
    assert any("line 3" in p and "not a signed head record" in p for p in kinds), kinds


def test_heads_of_another_database_do_not_count(chained, tmp_path):
    settings, _ = _export(chained)
    other = tmp_path / "other.jsonl"
    identity = Workspace.open(chained.db_path).identity()
    other.write_text(settings.heads_file.read_text().replace(identity, "ws-0000"))
    other.with_suffix(".pub").write_bytes(settings.heads_file.with_suffix(".pub").read_bytes())
    result = verification.verify(Workspace.open(chained.db_path), other)
    assert not result.ok and "holds no signed head for" in result.problems[0]


def test_signing_key_created_private_and_refused_inside_data_or_audit(workspace, monkeypatch):
    from churn_workbench import config, signing
    from churn_workbench.errors import UsageError
    settings = config.load_settings()
    key = signing.load_or_create_key(settings.signing_key_file)
    assert settings.signing_key_file.stat().st_mode & 0o777 == 0o600
    assert signing.load_or_create_key(settings.signing_key_file).public_key().public_bytes_raw() == \
        key.public_key().public_bytes_raw()
    for inside in (workspace.data_dir / "k.pem", workspace.audit_dir / "k.pem"):
        monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(inside))
        with pytest.raises(UsageError, match="outside the"):
            signing.export_head(Workspace(config.load_settings()), {"seq": 0, "hash": audit.GENESIS, "run_id": None})
    settings.signing_key_file.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        signing.load_or_create_key(settings.signing_key_file)


def test_default_key_and_heads_live_outside_the_project_folders(monkeypatch):
    from churn_workbench import config
    monkeypatch.delenv("WORKBENCH_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("WORKBENCH_HEADS_FILE", raising=False)
    settings = config.load_settings()
    for path in (settings.signing_key_file, settings.heads_file):
        assert not path.is_relative_to(settings.data_dir) and not path.is_relative_to(settings.audit_dir)


def test_a_missing_public_key_is_one_problem(chained):
    settings, _ = _export(chained)
    _export(chained)
    (settings.heads_file.with_suffix(".pub")).unlink()
    result = verification.verify(Workspace.open(chained.db_path), settings.heads_file)
    assert not result.ok and len(result.problems) == 1 and "no public key" in result.problems[0]


def test_a_run_whose_model_was_refused_still_verifies(workspace):
    """The quality gate keeps a refused candidate aside: it is not a run artefact, and verify agrees
    (the stages run in this process, see inprocess.py). A refused model is no failed stage: exit 0."""
    from inprocess import cli
    run = cli("--quiet", "--synthetic", "80", "--stages", "ingest,feedback,train",
              env={"WORKBENCH_MODEL_MIN_AUC": "0.999", "WORKBENCH_MODEL_NESTED_MAX_ROWS": "0"})
    assert run.returncode == 0 and "not promoted" in run.stdout + run.stderr
    verify = cli("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_signing_key_inside_the_data_folder_is_refused_before_the_first_stage(workspace, monkeypatch, capsys):
    from churn_workbench import cli
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(workspace.data_dir / "k.pem"))
    assert cli.main(["--synthetic", "60", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must live outside the data folder" in err, err
    assert not workspace.db_path.exists() and not (workspace.data_dir / "k.pem").exists()
