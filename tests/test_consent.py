"""Consent fails closed, the latest record wins, and every decision is audited."""
from __future__ import annotations

import pandas as pd
import pytest

from churn_workbench import audit, consent, db, pseudonyms


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
    refs = pseudonyms.SubjectRefs(ws.data_dir / ".subject_key")
    consent.check(con, ["A", "B", "C"], "marketing", log, refs)
    summary = [e for e in log.pending if e["event_type"] == "consent_checked"]
    excluded = [e for e in log.pending if e["event_type"] == "consent_excluded"]
    assert '"allowed":1' in summary[0]["details"] and '"excluded":2' in summary[0]["details"]
    assert sorted(e["subject_ref"] for e in excluded) == sorted([refs.ref("A"), refs.ref("C")])
    assert all("A" != e["subject_ref"] and "C" != e["subject_ref"] for e in excluded)


def _decide(con, records, ids, purpose="external_llm"):
    con.execute("DELETE FROM consent")
    frame = pd.DataFrame(records, columns=["customer_id", "purpose", "granted", "recorded_at"])
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"])
    frame["source"], frame["run_id"] = "test", "r0"
    db.insert_df(con, "consent", frame)
    return consent.allowed(con, ids, purpose).to_dict()


@pytest.mark.parametrize("case, records, expected", [
    ("a tie between grant and withdrawal: withdrawal wins, whatever the file order",
     [("X", "external_llm", True, "2025-05-01"), ("X", "external_llm", False, "2025-05-01")], False),
    ("the same tie, other order",
     [("X", "external_llm", False, "2025-05-01"), ("X", "external_llm", True, "2025-05-01")], False),
    ("an undated withdrawal beats a dated grant",
     [("X", "external_llm", True, "2025-05-01"), ("X", "external_llm", False, None)], False),
    ("an undated grant cannot be compared with a dated withdrawal",
     [("X", "external_llm", False, "2025-01-01"), ("X", "external_llm", True, None)], False),
    ("a withdrawal under the id in another case applies",
     [("X", "external_llm", True, "2025-01-01"), ("x", "external_llm", False, "2025-02-01")], False),
    ("a withdrawal with stray white space applies",
     [("X", "external_llm", True, "2025-01-01"), ("\u00a0X \t", "external_llm", False, "2025-02-01")], False),
    ("a grant under another case does not",
     [("x", "external_llm", True, "2025-01-01")], False),
    ("a future-dated grant does not override a real withdrawal",
     [("X", "external_llm", False, "2025-01-01"), ("X", "external_llm", True, "2199-01-01")], False),
    ("a future-dated grant alone is no consent",
     [("X", "external_llm", True, "2199-01-01")], False),
    ("an undated grant with nothing against it stands",
     [("X", "external_llm", True, None)], True),
    ("a grant strictly after the withdrawal stands",
     [("X", "external_llm", False, "2025-01-01"), ("X", "external_llm", True, "2025-01-02")], True),
])
def test_consent_ambiguity_resolves_to_no(register, case, records, expected):
    con, _ = register
    assert _decide(con, records, ["X"]) == {"X": expected}, case


def test_future_dated_records_are_counted_and_audited(register):
    con, ws = register
    _decide(con, [("X", "marketing", True, "2199-01-01"), ("Y", "marketing", True, "2025-01-01")], ["X", "Y"])
    assert consent.future_dated(con) == 1
    log = audit.AuditLog("r1", "act")
    consent.check(con, ["X", "Y"], "marketing", log, pseudonyms.SubjectRefs(ws.data_dir / ".subject_key"))
    checked = [e for e in log.pending if e["event_type"] == "consent_checked"][0]
    assert '"future_dated_ignored":1' in checked["details"]
