"""An insider with write access to the database and the audit folder tries to rewrite history.

Every scenario starts from the built `local` workspace (tests/workspaces.py: two real runs,
`run-1` and `run-2`), restored as built, tampers with it the way an insider would, and runs
`verify` without and with the exported signed heads. The heads file and the signing key are
outside the database and audit folders and are left alone: that is the trust model (README,
"Audit trail and trust model").
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from churn_workbench import audit, db, verification
from churn_workbench.workspace import Workspace as WorkbenchWorkspace
from conftest import Workspace, workspace_env
from inprocess import cli

FIELDS = ["seq", "ts", "run_id", "stage", "event_type", "status", "subject_ref", "details", "prev_hash", "hash"]


@dataclass
class Site:
    ws: Workspace
    runs: list[str]

    @property
    def heads(self) -> Path:
        return self.ws.heads

    def run_dir(self, run: str) -> Path:
        return self.ws.audit_dir / "runs" / run

    def manifest(self, run: str) -> dict:
        return json.loads((self.run_dir(run) / "manifest.json").read_text())

    def write_manifest(self, run: str, manifest: dict) -> None:
        (self.run_dir(run) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    def sql(self, *statements: str) -> None:
        with db.session(self.ws.db_path) as con:
            for statement in statements:
                con.execute(statement)

    def verify(self, heads: bool):
        return verification.verify(WorkbenchWorkspace.open(self.ws.db_path, audit_dir=str(self.ws.audit_dir)), self.heads if heads else None)

    def cli(self, *args):
        return cli(*args, env=workspace_env(self.ws))


@pytest.fixture
def site(built_local) -> Site:
    """The untouched workspace, restored as built for one scenario."""
    return Site(built_local.restore(), ["run-1", "run-2"])


# --- the scenarios ------------------------------------------------------------------------------

def edit_audit_row(s: Site):
    s.sql("UPDATE audit_log SET status = 'failed' WHERE seq = 10")


def cut_tail(s: Site):
    s.sql("DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)")


def delete_run_directory(s: Site):
    shutil.rmtree(s.run_dir("run-1"))


def replace_notebook(s: Site):
    _flip_notebook(s, "run-1", "04_predict.ipynb")


def edit_manifest_head(s: Site):
    manifest = s.manifest("run-1")
    manifest["chain_head"]["hash"] = "0" * 64
    s.write_manifest("run-1", manifest)


def erase_last_run(s: Site):
    """Every trace of run-2: its events, run records, rows, directory."""
    s.sql(*[f"DELETE FROM {t} WHERE run_id = 'run-2'" for t in
            ("audit_log", "runs", "stage_runs", "predictions", "actions", "llm_egress", "feedback_analysis",
             "model_registry")])
    shutil.rmtree(s.run_dir("run-2"))


def rewrite_history(s: Site, drop: bool = True):
    """Drop events (consent exclusions of run-1), change counts, recompute every hash, fix the manifests."""
    with db.session(s.ws.db_path) as con:
        rows = con.execute(f"SELECT {', '.join(FIELDS)} FROM audit_log ORDER BY seq").df().to_dict("records")
        if drop:
            rows = [r for r in rows if not (r["run_id"] == "run-1" and r["event_type"] == "consent_excluded")]
        prev, new_seq = audit.GENESIS, {}
        for number, row in enumerate(rows, start=1):
            row = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}
            if row["event_type"] == "consent_checked":
                details = json.loads(row["details"])
                details = {k: (0 if "excluded" in k and isinstance(v, int) else v) for k, v in details.items()}
                row["details"] = audit.canonical_json(details)
            new_seq[row["seq"]] = number
            row["seq"], row["prev_hash"] = number, prev
            row["hash"] = prev = audit.row_hash(prev, row)
            rows[number - 1] = row
        con.execute("DELETE FROM audit_log")
        db.insert_df(con, "audit_log", pd.DataFrame(rows, columns=FIELDS))
        hashes = dict(con.execute("SELECT seq, hash FROM audit_log").fetchall())
    for run in s.runs:
        manifest = s.manifest(run)
        seq = new_seq[manifest["chain_head"]["seq"]]
        manifest["chain_head"].update(seq=seq, hash=hashes[seq])
        s.write_manifest(run, manifest)


def rewrite_counts(s: Site):
    """The same rewrite, keeping every event: only counts change, the chain keeps its length."""
    rewrite_history(s, drop=False)


def replace_notebook_and_manifest(s: Site):
    path = _flip_notebook(s, "run-1", "04_predict.ipynb")
    manifest = s.manifest("run-1")
    manifest["artefacts"]["notebook:predict"]["sha256"] = audit.file_sha256(path)
    s.write_manifest("run-1", manifest)


def edit_model_card_and_manifest(s: Site):
    manifest = s.manifest("run-1")
    card = s.ws.root / manifest["artefacts"]["model_card"]["path"]  # recorded relative to the workspace
    card.write_text(card.read_text().replace("ROC-AUC", "ROC-AUC (audited: 0.99)", 1))
    manifest["artefacts"]["model_card"]["sha256"] = audit.file_sha256(card)
    s.write_manifest("run-1", manifest)


def edit_prediction(s: Site):
    s.sql("UPDATE predictions SET churn_probability = 0.01, segment = 'Low' WHERE run_id = 'run-1' "
          "AND customer_id = (SELECT min(customer_id) FROM predictions WHERE run_id = 'run-1')")


def edit_action(s: Site):
    s.sql("UPDATE actions SET message = 'Call me on 0612345678', status = 'ok' WHERE run_id = 'run-2' "
          "AND customer_id = (SELECT min(customer_id) FROM actions WHERE run_id = 'run-2')")


def edit_consent(s: Site):
    s.sql("UPDATE consent SET granted = NOT granted WHERE purpose = 'marketing' "
          "AND customer_id = (SELECT min(customer_id) FROM consent WHERE purpose = 'marketing')")


def insert_consent(s: Site):
    """A grant that was never given, attributed to the ingest run."""
    s.sql("INSERT INTO consent SELECT customer_id, 'external_llm', true, recorded_at, 'forged', run_id FROM consent "
          "WHERE purpose = 'marketing' LIMIT 1")


def wipe_audit(s: Site):
    """audit_log, runs and audit/runs gone (the tables of results left as they are)."""
    s.sql("DELETE FROM audit_log", "DELETE FROM runs", "DELETE FROM stage_runs")
    shutil.rmtree(s.ws.audit_dir / "runs")


def wipe_everything(s: Site):
    wipe_audit(s)
    s.sql(*[f"DELETE FROM {t}" for t in (*audit.GOVERNED_TABLES, "model_registry")])


def _guessed_row_hash(row: dict) -> str:
    """The hash rule as an outsider reconstructs it from the chain alone: prev_hash followed by
    the compact, key-sorted, UTF-8 JSON of the row's other fields."""
    payload = {k: row[k] for k in FIELDS[:8]}
    return hashlib.sha256((row["prev_hash"] + json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                                         ensure_ascii=False, default=str)).encode()).hexdigest()


def rewrite_blackbox(s: Site):
    """An early event's details changed and every later hash recomputed by the rule an outsider
    reconstructs from the untouched chain (checked on it first); the manifests left as they are."""
    with db.session(s.ws.db_path) as con:
        rows = con.execute(f"SELECT {', '.join(FIELDS)} FROM audit_log ORDER BY seq").df().to_dict("records")
        rows = [{k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in r.items()} for r in rows]
        assert all(_guessed_row_hash(r) == r["hash"] for r in rows), "the hash rule could not be reconstructed"
        prev = None
        for i, r in enumerate(rows):
            if i == 1:
                r["details"] = json.dumps({"rewritten": True})
            if prev is not None:
                r["prev_hash"] = prev
            r["hash"] = prev = _guessed_row_hash(r)
            con.execute("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                        [r["details"], r["prev_hash"], r["hash"], r["seq"]])


def _flip_notebook(s: Site, run: str, name: str) -> Path:
    path = s.run_dir(run) / name
    nb = json.loads(path.read_text())
    nb["cells"][-1]["source"] = "# nothing to see here\n"
    path.write_text(json.dumps(nb))
    return path


# name: (tamper, substring of the first finding with heads, detected without heads?)
SCENARIOS = {
    "edit_audit_row": (edit_audit_row, "audit_log seq 10", True),
    "cut_tail": (cut_tail, "not in the chain", True),
    "delete_run_directory": (delete_run_directory, "manifest missing for finished run run-1", True),
    "replace_notebook": (replace_notebook, "04_predict.ipynb", True),
    "edit_manifest_head": (edit_manifest_head, "does not match audit_log", True),
    "erase_last_run": (erase_last_run, "events erased", False),
    # Dropped consent exclusions, or counts rewritten to match, disagree with the digest of the
    # excluded customers each consent check records: found from the chain alone.
    "rewrite_history": (rewrite_history, "history rewritten", True),
    "rewrite_counts": (rewrite_counts, "history rewritten", True),
    "rewrite_blackbox": (rewrite_blackbox, "does not match audit_log", True),
    "replace_notebook_and_manifest": (replace_notebook_and_manifest, "04_predict.ipynb", True),
    "edit_model_card_and_manifest": (edit_model_card_and_manifest, "model_card", True),
    "edit_prediction": (edit_prediction, "table predictions, run run-1", True),
    "edit_action": (edit_action, "table actions, run run-2", True),
    "edit_consent": (edit_consent, "table consent, run run-1", True),
    "insert_consent": (insert_consent, "table consent, run run-1", True),
    "wipe_audit": (wipe_audit, "audit_log is empty", True),
    "wipe_everything": (wipe_everything, "audit_log is empty", False),
}


def test_untouched_runs_verify_with_and_without_heads(site):
    for heads in (False, True):
        result = site.verify(heads)
        assert result.ok, result.problems
        assert result.runs_checked == 2 and result.digests_checked >= 6
    assert site.verify(True).heads_checked == 2


@pytest.mark.parametrize("name", SCENARIOS)
def test_detected_with_exported_heads(site, name):
    tamper, first, _ = SCENARIOS[name]
    tamper(site)
    result = site.verify(heads=True)
    assert not result.ok, f"{name} not detected"
    assert first in result.findings[0].message, result.problems


@pytest.mark.parametrize("name", SCENARIOS)
def test_without_heads_what_the_chain_alone_can_prove(site, name):
    tamper, _, detected = SCENARIOS[name]
    tamper(site)
    result = site.verify(heads=False)
    assert result.ok is (not detected), result.problems
    if name in ("edit_prediction", "edit_action", "edit_consent"):   # the problem names the table
        assert f"table {name.split('_')[1].rstrip('s')}" in result.problems[0], result.problems


def test_one_edited_row_is_reported_once(site):
    """Before: the edited row, then "log truncated" for every later manifest."""
    edit_audit_row(site)
    result = site.verify(heads=True)
    assert result.problems == ["audit_log seq 10: content does not match its hash (row altered)"]


def test_erasure_with_recorded_row_hashes_verifies_and_without_fails(site):
    """The erasure command's contract: hashes of the deleted rows go into a `subject_erased` event."""
    with db.session(site.ws.db_path) as con, db.transaction(con):
        customer = con.execute("SELECT min(customer_id) FROM predictions WHERE run_id = 'run-1'").fetchone()[0]
        removed = {}
        for table in ("predictions", "actions", "consent"):
            for (run,) in con.execute(f"SELECT DISTINCT run_id FROM {table} WHERE customer_id = ?", [customer]).fetchall():
                removed.setdefault(table, {})[run] = audit.row_hashes(con, table, "customer_id = ? AND run_id = ?",
                                                                      [customer, run])
            con.execute(f"DELETE FROM {table} WHERE customer_id = ?", [customer])
        log = audit.AuditLog("subject-erasure-1", "subject")
        log.event(audit.SUBJECT_ERASED, subject_ref="subj_x", removed_row_hashes=removed)
        log.flush(con)
    assert removed["predictions"] and removed["consent"]
    result = site.verify(heads=True)
    assert result.ok, result.problems
    assert any("not yet covered by a signed head" in n for n in result.notes)
    # The same deletion without the event is tampering, named by table and run.
    site.sql("DELETE FROM predictions WHERE customer_id = (SELECT max(customer_id) FROM predictions WHERE run_id = 'run-1')")
    result = site.verify(heads=False)
    assert not result.ok and result.findings[0].where == "predictions/run-1", result.problems
    assert "rows differ from the digest" in result.problems[0]


def test_cli_verify_json_and_exit_codes(site):
    ok = site.cli("verify", "--heads", str(site.heads), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True and report["heads_checked"] == 2 and report["first"] is None
    erase_last_run(site)
    plain = site.cli("verify")
    assert plain.returncode == 0 and "no exported heads checked" in plain.stdout
    bad = site.cli("verify", "--heads", str(site.heads), "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["first"]["kind"] == "heads" and "run-2" in report["first"]["message"]
    text = site.cli("verify", "--heads", str(site.heads))
    assert text.returncode == 1 and text.stdout.startswith("audit FAILED: ") and "events erased" in text.stdout
    missing = site.cli("verify", "--heads", str(site.ws.root / "nope.jsonl"))
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr


def test_signing_key_is_private_and_outside_the_data_and_audit_folders(site):
    key = site.ws.signing_key
    assert key.stat().st_mode & 0o077 == 0
    assert not key.is_relative_to(site.ws.data_dir) and not key.is_relative_to(site.ws.audit_dir)
    assert (site.ws.root / "heads" / "heads.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    heads = [json.loads(line) for line in site.heads.read_text().splitlines()]
    assert [h["run_id"] for h in heads] == ["run-1", "run-2"]
