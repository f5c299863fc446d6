"""Consent fails closed, the latest record wins, and every decision is audited.

First on a hand-built register; then through whole runs (stages in this process, see
inprocess.py): edge cases in the register resolve to "no" for every purpose, odd consent files
never become a grant, a withdrawal takes effect on the next run, and no consent data at all
means nobody is scored.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

import hostile_inputs as hi
from churn_workbench import audit, consent, db, pseudonyms, synthetic
from conftest import Workspace
from hostile_inputs import E, edge_run  # noqa: F401  (fixture)


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


# --------------------------------------------------------------------------- edge cases in a whole run
@pytest.mark.parametrize("cid", sorted(hi.EXTERNAL_LLM_NO), ids=lambda c: f"{c}-{hi.EXTERNAL_LLM_NO[c][1]}")
def test_without_external_llm_consent_nothing_leaves(edge_run, cid):
    """(test_egress.py proves that the consenting customers' text does leave in this run.)"""
    ws, inputs = edge_run
    sent = "\n".join(inputs["bodies"])
    payloads = "\n".join(p or "" for (p,) in hi.query(ws, "SELECT payload FROM llm_egress"))
    assert hi.canary(cid) not in sent, hi.EXTERNAL_LLM_NO[cid][1]
    assert hi.canary(cid) not in payloads, hi.EXTERNAL_LLM_NO[cid][1]
    providers = {p for (p,) in hi.query(ws, "SELECT provider FROM feedback_analysis WHERE customer_id = ?", [cid])}
    assert "openai" not in providers


def test_future_dated_records_are_ignored_and_reported(edge_run):
    ws, _ = edge_run
    events = [json.loads(d) for (d,) in hi.query(ws, "SELECT details FROM audit_log WHERE event_type = 'consent_checked'")]
    assert any(ev.get("future_dated_ignored", 0) >= 1 for ev in events if ev.get("purpose") == E)
    assert any(ev.get("future_dated_ignored", 0) >= 1 for ev in events if ev.get("purpose") == "marketing")


@pytest.mark.parametrize("cid", sorted(hi.PROFILING_NO))
def test_profiling_objector_is_not_scored(edge_run, cid):
    ws, _ = edge_run
    assert hi.query(ws, "SELECT count(*) FROM predictions WHERE trim(lower(customer_id)) = ?", [cid.lower()])[0][0] == 0


def test_profiling_objectors_are_not_in_training_data(edge_run):
    """README: no `profiling` -> not scored and not used to train the model."""
    ws, inputs = edge_run
    allowed_labelled = [c for c in inputs["labelled"] if c not in hi.PROFILING_NO]
    (n_train,) = hi.query(ws, "SELECT n_train FROM model_registry ORDER BY trained_at DESC LIMIT 1")[0]
    assert n_train == len(allowed_labelled), (
        f"model trained on {n_train} rows; {len(inputs['labelled'])} labelled customers, of whom "
        f"{len(inputs['labelled']) - len(allowed_labelled)} objected to profiling ({', '.join(hi.LABELLED_OBJECTORS)})")


@pytest.mark.parametrize("cid", sorted(hi.MARKETING_NO))
def test_marketing_objector_gets_no_action(edge_run, cid):
    ws, _ = edge_run
    assert hi.query(ws, "SELECT count(*) FROM actions WHERE customer_id = ? AND status <> 'control'", [cid])[0][0] == 0


# --------------------------------------------------------------------------- odd consent files (ingest only)
@pytest.fixture(scope="module")
def odd_consent_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd_consent")
    return {kind: hi.run_built(root / kind, lambda d, k=kind: hi.odd_consent(d, k), "--stages", "ingest")
            for kind in ("dates", "values", "granted", "purpose")}


@pytest.mark.parametrize("cid", sorted(hi.ODD_DATES), ids=lambda c: hi.ODD_DATES[c][1])
def test_odd_consent_dates_never_let_a_grant_win(odd_consent_runs, cid):
    """Refused (one line naming the file and recorded_at), or stored so that the withdrawal still wins."""
    ws, inputs, result = odd_consent_runs["dates"]
    hi.assert_clean_outcome(result, inputs["file"])
    if result.returncode == 2:
        assert "recorded_at" in result.stderr
        return
    recs = hi.query(ws, "SELECT granted, recorded_at FROM consent WHERE customer_id = ? AND purpose = ?", [cid, E])
    grants = [t for g, t in recs if g]
    withdrawals = [t for g, t in recs if not g]
    assert withdrawals, "the withdrawal was dropped"
    assert (not grants or any(w is None for w in withdrawals) or None in grants
            or max(withdrawals) >= max(grants)), f"stored so that the grant wins: {recs}"


def test_odd_granted_values_and_purposes_never_become_a_grant(odd_consent_runs):
    ws, inputs, result = odd_consent_runs["values"]
    hi.assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        stored = {(c, p): g for c, p, g in hi.query(ws, "SELECT customer_id, purpose, granted FROM consent")}
        purposes = {p for _, p in stored}
        assert purposes <= set(hi.PURPOSES), f"unknown purposes stored: {purposes - set(hi.PURPOSES)}"


def test_bom_customers_file_keeps_the_id_column(odd_consent_runs):
    ws, inputs, result = odd_consent_runs["values"]   # its customers file starts with a byte-order mark
    hi.assert_clean_outcome(result, inputs["file"], "bom.csv")
    assert result.returncode == 0, result.stderr
    cols = [c for (c,) in hi.query(ws, "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers'")]
    assert not any("\ufeff" in c for c in cols), cols
    assert hi.query(ws, "SELECT count(*) FROM customers WHERE customer_id = 'C001'")[0][0] == 1


def test_unparseable_granted_values_never_become_a_grant(odd_consent_runs):
    ws, inputs, result = odd_consent_runs["granted"]
    hi.assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        stored = dict(hi.query(ws, "SELECT customer_id, granted FROM consent WHERE purpose = ?", [E]))
        assert stored.get("C004") is not True, '"nope" stored as a grant'
        assert stored.get("C005") is not True, '"granted?" stored as a grant'


def test_misspelled_purpose_never_becomes_a_grant(odd_consent_runs):
    ws, inputs, result = odd_consent_runs["purpose"]
    hi.assert_clean_outcome(result, inputs["file"])
    if result.returncode == 0:
        assert hi.query(ws, "SELECT count(*) FROM consent WHERE customer_id = 'C008' AND granted")[0][0] == 0


# --------------------------------------------------------------------------- a withdrawal, the next run
def test_withdrawn_consent_takes_effect_on_the_next_run(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    data = synthetic.generate(60, 8)
    files = {name: tmp_path / f"{name}.csv" for name in ("customers", "feedback", "consent")}
    data.customers.to_csv(files["customers"], index=False)
    data.feedback.to_csv(files["feedback"], index=False)
    data.consent.to_csv(files["consent"], index=False)
    args = ["--customers", files["customers"], "--feedback", files["feedback"], "--consent", files["consent"]]
    first = hi.run(ws, *args)
    assert first.returncode == 0, first.stdout + first.stderr

    def scored_and_contacted(run_index):
        run_id = hi.query(ws, "SELECT run_id FROM runs ORDER BY started_at")[run_index][0]
        scored = {r[0] for r in hi.query(ws, "SELECT customer_id FROM predictions WHERE run_id = ?", [run_id])}
        acted = {r[0] for r in hi.query(ws, "SELECT customer_id FROM actions WHERE run_id = ? AND status <> 'control'",
                                        [run_id])}
        return scored, acted

    scored, acted = scored_and_contacted(0)
    victim_profiling = sorted(scored)[0]
    victim_marketing = sorted(acted - {victim_profiling})[0]
    # After every synthetic record, but not in the future: future-dated records are ignored.
    later = pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.Timedelta(minutes=1)
    withdrawals = pd.DataFrame([
        {"customer_id": victim_profiling, "purpose": "profiling", "granted": False, "recorded_at": later, "source": "objection"},
        {"customer_id": victim_marketing, "purpose": "marketing", "granted": False, "recorded_at": later, "source": "unsubscribe"},
    ])
    pd.concat([data.consent, withdrawals]).to_csv(files["consent"], index=False)
    second = hi.run(ws, *args, "--stages", "ingest,predict,act")   # scored again by the same model
    assert second.returncode == 0, second.stdout + second.stderr
    scored2, acted2 = scored_and_contacted(1)
    assert victim_profiling not in scored2 and victim_profiling not in acted2
    assert victim_marketing in scored2 and victim_marketing not in acted2
    assert scored2 == scored - {victim_profiling}
