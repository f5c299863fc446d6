"""A workspace is one portable thing: copied, moved or archived, it verifies against its own files,
and its signed heads follow it (they name the workspace's id, not a path)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from churn_workbench import audit, signing, verification
from churn_workbench.config import load_settings
from churn_workbench.errors import PipelineBusy
from churn_workbench.runs import RunStore
from churn_workbench.workspace import Workspace


def _sealed_run(ws: Workspace, run_id: str = "run-1") -> None:
    """One finished run the way the runner closes it: a stage with its executed notebook, a model
    artefact, the artefacts sealed in the chain, a manifest and a signed head."""
    store = RunStore(ws)
    store.start(run_id, {"synthetic_n": 10}, "local", ["ingest"])
    store.stage_started(run_id, "ingest")
    notebook = ws.run_dir(run_id) / "01_ingest.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(json.dumps({"cells": [], "run": run_id}))
    store.stage_finished(run_id, "ingest", "succeeded", 0.5, notebook, None)
    hashed = audit.artefact_hashes(store.artefacts(run_id), ws.relative)
    store.event(run_id, "pipeline", audit.ARTEFACTS_SEALED, artefacts={n: a["sha256"] for n, a in hashed.items()})
    store.finish(run_id, "succeeded", None)
    with ws.session() as con:
        head = audit.chain_head(con)
    audit.write_manifest(ws.run_dir(run_id), run_id, head, hashed)
    signing.export_head(ws, head)


@pytest.fixture
def sealed(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SIGNING_KEY_FILE", str(tmp_path / "keys" / "signing_key.pem"))
    monkeypatch.setenv("WORKBENCH_HEADS_FILE", str(tmp_path / "heads" / "heads.jsonl"))
    for name in ("WORKBENCH_DB", "WORKBENCH_DATA_DIR", "WORKBENCH_AUDIT_DIR"):
        monkeypatch.delenv(name, raising=False)
    ws = Workspace.open(tmp_path / "ws" / "wb.duckdb")
    _sealed_run(ws)
    return ws


def test_manifests_and_run_records_hold_paths_relative_to_the_workspace(sealed):
    manifest = json.loads((sealed.run_dir("run-1") / "manifest.json").read_text())
    assert manifest["artefacts"]["notebook:ingest"]["path"] == "audit/runs/run-1/01_ingest.ipynb"
    with sealed.session() as con:
        assert con.execute("SELECT notebook_path FROM stage_runs").fetchone()[0] == "audit/runs/run-1/01_ingest.ipynb"
    assert verification.verify(sealed, sealed.settings.heads_file).ok


def test_a_copied_then_tampered_workspace_fails_and_an_untouched_copy_passes(sealed, tmp_path):
    heads = sealed.settings.heads_file
    untouched = shutil.copytree(sealed.root, tmp_path / "copy-ok")
    tampered = shutil.copytree(sealed.root, tmp_path / "copy-bad")
    (tampered / "audit" / "runs" / "run-1" / "01_ingest.ipynb").write_text('{"cells": ["edited"]}')
    shutil.rmtree(sealed.root)  # the original is gone: each copy must stand on its own files

    ok = verification.verify(Workspace.open(untouched / "wb.duckdb"), heads)
    assert ok.ok, ok.problems
    assert ok.heads_checked == 1  # the head signed for the original names the workspace, not its path
    bad = verification.verify(Workspace.open(tampered / "wb.duckdb"), heads)
    assert not bad.ok
    assert "copy-bad" in bad.problems[0] and "01_ingest.ipynb" in bad.problems[0]


def test_the_identity_is_created_with_the_database_and_kept_by_a_copy(sealed, tmp_path):
    identity = sealed.identity()
    assert identity.startswith("ws-") and identity == sealed.identity()
    copy = shutil.copytree(sealed.root, tmp_path / "copy")
    assert Workspace.open(copy / "wb.duckdb").identity() == identity
    other = Workspace.open(tmp_path / "other" / "wb.duckdb")
    assert other.identity() != identity


def test_heads_of_another_workspace_do_not_count(sealed, tmp_path):
    other = Workspace.open(tmp_path / "other" / "wb.duckdb")
    _sealed_run(other, "run-x")
    result = verification.verify(sealed, sealed.settings.heads_file)
    assert result.ok and result.heads_checked == 1
    assert any("other workspaces" in note for note in result.notes)


def test_the_workspace_lock_refuses_a_second_holder_and_nests_in_its_own(tmp_path):
    ws = Workspace(load_settings(db_path=str(tmp_path / "wb.duckdb")))
    with ws.lock():
        with ws.lock():  # the same process may take it again (the CLI holds it around the runner)
            pass
        with open(ws.lock_path) as fh:
            assert fh.read() == f"another command (pid {os.getpid()})"
    # Another process: simulated by a second open file description, as flock sees it.
    import fcntl
    with open(ws.lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PipelineBusy, match="in use by another command"):
            with ws.lock():
                pass
        fcntl.flock(fh, fcntl.LOCK_UN)
