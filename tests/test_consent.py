"""Consent fails closed, the latest record wins, and every decision is audited."""
from __future__ import annotations

import pandas as pd
import pytest

from churn_workbench import audit, consent, db


@pytest.fixture
def register(workspace):
    con = db.connect(workspace.db_path)
    db.migrate(con)
    records = pd.DataFrame([
        ("A", "marketing", True, "2025-01-01"),
        ("A", "marketing", False, "2025-03-01"),   # withdrawn later
        ("B", "marketing", False, "2025-01-01"),
        ("B", "marketing", True, "2025-02-01"),    # granted after a refusal
        ("C", "profiling", True, "2025-01-01"),    # no marketing record at all
    ], columns=["customer_id", "purpose", "granted", "recorded_at"])
    records["recorded_at"] = pd.to_datetime(records["recorded_at"])
    records["source"] = "test"
    records["run_id"] = "r0"
    db.insert_df(con, "consent", records)
    yield con, workspace
    con.close()


def test_latest_record_wins_and_missing_means_no(register):
    con, _ = register
    decision = consent.allowed(con, ["A", "B", "C", "D"], "marketing")
    assert decision.to_dict() == {"A": False, "B": True, "C": False, "D": False}


def test_withdrawal_takes_effect_on_next_check(register):
    con, _ = register
    assert consent.allowed(con, ["C"], "profiling")["C"]
    con.execute("INSERT INTO consent VALUES ('C', 'profiling', false, TIMESTAMP '2025-06-01', 'preference_center', 'r1')")
    assert not consent.allowed(con, ["C"], "profiling")["C"]


def test_unknown_purpose_is_rejected(register):
    con, _ = register
    with pytest.raises(ValueError, match="unknown consent purpose"):
        consent.allowed(con, ["A"], "sell_data")


def test_check_audits_counts_and_each_exclusion_pseudonymously(register):
    con, ws = register
    log = audit.AuditLog("r1", "act")
    refs = audit.SubjectRefs(ws.data_dir / ".subject_key")
    consent.check(con, ["A", "B", "C"], "marketing", log, refs)
    summary = [e for e in log.pending if e["event_type"] == "consent_checked"]
    excluded = [e for e in log.pending if e["event_type"] == "consent_excluded"]
    assert '"allowed":1' in summary[0]["details"] and '"excluded":2' in summary[0]["details"]
    assert sorted(e["subject_ref"] for e in excluded) == sorted([refs.ref("A"), refs.ref("C")])
    assert all("A" != e["subject_ref"] and "C" != e["subject_ref"] for e in excluded)
