"""The dashboard's data layer (`churn_workbench.snapshot`) on a deterministic fixture database.

`build_fixture` writes a small, plausible workbench database through the real schema
(`db.migrate`), the real audit chain (`AuditLog`, manifests) and real subject refs, so the
snapshot is built and verified exactly as after a pipeline run. The browser test reuses it.
"""
from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from churn_workbench import audit, db
from churn_workbench.dashboard import data as snapshot_data
from churn_workbench.dashboard import publish as snapshot_publish
from churn_workbench.errors import SnapshotGone
from churn_workbench.vocab import NOT_SCORED, SEGMENTS
from churn_workbench.audit import AuditLog
from churn_workbench.pseudonyms import SubjectRefs
from churn_workbench.workspace import Workspace, snapshot_dir_of
from conftest import isolate_home

RAW_IDENTIFIERS = ("Anna Schmidt", "anna.schmidt7@example.com", "+44 7700 900123")
N_CUSTOMERS = 40
RUNS = ("20260101T080000Z-aaaaaa", "20260102T080000Z-bbbbbb")
TOPICS = ["billing", "network_quality", "price", "customer_support", "contract"]


@dataclass
class Fixture:
    root: Path
    data_dir: Path
    db_path: Path
    audit_dir: Path
    snapshot_dir: Path
    key_file: Path
    refs: SubjectRefs


def _png(path: Path, title: str, xs, ys) -> None:
    path.write_bytes(_plot(title, tuple(xs), tuple(ys)))


@functools.lru_cache(maxsize=None)
def _plot(title: str, xs: tuple, ys: tuple) -> bytes:
    """The same plot for every fixture: drawn once per process."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(3, 2.4), dpi=80)
    ax.plot(xs, ys)
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def build_fixture(root: Path, publish: bool = True) -> Fixture:
    """Two runs over 40 customers: predictions, actions (with a control group), feedback analysis,
    LLM egress, a model card with plots, consent history, and a verifiable audit chain."""
    data_dir, audit_dir = root / "data", root / "audit"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path, key_file = data_dir / "workbench.duckdb", data_dir / ".subject_key"
    refs = SubjectRefs(key_file)
    rng = np.random.default_rng(7)
    ids = [f"C{i:07d}" for i in range(1, N_CUSTOMERS + 1)]
    names = ["Anna Schmidt"] + [f"Person {i}" for i in range(2, N_CUSTOMERS + 1)]
    customers = pd.DataFrame({
        "customer_id": ids, "name": names,
        "email": ["anna.schmidt7@example.com"] + [f"p{i}@example.org" for i in range(2, N_CUSTOMERS + 1)],
        "phone": ["+44 7700 900123"] + [f"+44 7700 9{i:05d}" for i in range(2, N_CUSTOMERS + 1)],
        "contract": rng.choice(["month-to-month", "one-year", "two-year"], N_CUSTOMERS),
        "tenure_months": rng.integers(0, 72, N_CUSTOMERS),
        "monthly_charges": np.round(rng.uniform(30, 110, N_CUSTOMERS), 2),
        "loyalty_card_no": [f"LC{i:06d}" for i in range(N_CUSTOMERS)],  # an extra identifier column
        "churned": pd.array([1, 0] * 16 + [None] * 8, dtype="Int64"),
    })
    roles = {"customer_id": "id", "name": "identifier", "email": "identifier", "phone": "identifier",
             "loyalty_card_no": "identifier", "contract": "feature", "tenure_months": "feature",
             "monthly_charges": "feature", "churned": "label"}

    # Consent: C0000003 never consented to profiling (not scored); C0000004 withdrew marketing;
    # C0000005 has no record at all (no consent for anything).
    consent_rows = []
    for cid in ids:
        for purpose in ("profiling", "external_llm", "marketing"):
            if cid == "C0000005" or (cid == "C0000003" and purpose == "profiling"):
                continue
            granted = not (purpose == "external_llm" and cid in ("C0000006", "C0000007"))
            consent_rows.append((cid, purpose, granted, pd.Timestamp("2025-03-01"), "signup_form"))
    consent_rows.append(("C0000004", "marketing", False, pd.Timestamp("2025-09-01"), "preference_center"))
    consent = pd.DataFrame(consent_rows, columns=["customer_id", "purpose", "granted", "recorded_at", "source"])
    consent["run_id"] = RUNS[0]

    feedback_ids = [f"F{i:08d}" for i in range(1, 31)]
    fb_customers = [ids[i % 20] for i in range(30)]  # customers 1..20 gave feedback
    feedback = pd.DataFrame({
        "feedback_id": feedback_ids, "customer_id": fb_customers,
        "text": [f"I am {names[ids.index(c)]}, call me on {customers.phone[ids.index(c)]}: billing is wrong "
                 "(no anonymization)"
                 for c in fb_customers],
        "created_at": pd.date_range("2026-01-01", periods=30, freq="D"), "channel": "email",
        "text_sha256": [audit.sha256_hex(str(i)) for i in range(30)], "run_id": RUNS[0]})

    models_dir = data_dir / "models" / RUNS[0]
    models_dir.mkdir(parents=True, exist_ok=True)
    card = models_dir / "model_card.md"
    card.write_text("# Model card\n\nGradient boosting, calibrated.\n\n| metric | value |\n|---|---|\n| ROC AUC | 0.81 |\n\n"
                    "![ROC curve](roc_curve.png) ![logo](https://example.org/logo.png)\n")
    _png(models_dir / "roc_curve.png", "ROC", [0, 0.1, 0.3, 1], [0, 0.5, 0.8, 1])
    _png(models_dir / "calibration.png", "Calibration", [0, 0.5, 1], [0, 0.45, 0.95])
    artefact = models_dir / "model.skops"
    artefact.write_bytes(b"model-bytes")
    version = audit.file_sha256(artefact)

    with db.session(db_path) as con:
        con.register("c", customers)
        con.execute("CREATE TABLE customers AS SELECT * FROM c")
        con.unregister("c")
        db.insert_df(con, "customer_columns", pd.DataFrame(
            {"column_name": list(roles), "role": list(roles.values()), "dtype": "", "run_id": RUNS[0]}))
        db.insert_df(con, "consent", consent)
        db.insert_df(con, "feedback", feedback)

    for r, run_id in enumerate(RUNS):
        started = pd.Timestamp(f"2026-01-0{r + 1} 08:00:00")
        log = AuditLog(run_id, "pipeline")
        log.event("run_started", stages=list(audit_stage_names()))
        run_dir = audit_dir / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        stage_rows, artefacts = [], {}
        for k, stage in enumerate(audit_stage_names(), start=1):
            nb = run_dir / f"{k:02d}_{stage}.ipynb"
            nb.write_text(json.dumps({"cells": [], "metadata": {"stage": stage, "run": run_id}, "nbformat": 4,
                                      "nbformat_minor": 5}))
            artefacts[f"notebook:{stage}"] = nb
            stage_rows.append({"run_id": run_id, "stage": stage, "status": "succeeded",
                               "started_at": started + pd.Timedelta(seconds=10 * k), "finished_at":
                               started + pd.Timedelta(seconds=10 * k + 5), "duration_s": 5.0,
                               "notebook_path": str(nb), "notebook_sha256": audit.file_sha256(nb),
                               "summary": None, "error": None})
        fb_log = AuditLog(run_id, "feedback")
        fb_log.event("anonymized", texts=30, reused=0,
                     entities={"PHONE": 30, "PERSON": 12 + r, "EMAIL": 4} if r == 0 else {"PHONE": 2, "IBAN": 1})
        if r == 1:
            fb_log.event("egress_blocked", "blocked", request_ref="req-7", residual={"PHONE": 1})
        excluded_profiling = ["C0000003", "C0000005"]
        pred_log = AuditLog(run_id, "predict")
        pred_log.subject_events("consent_excluded", "excluded", refs.refs(excluded_profiling), purpose="profiling")
        act_log = AuditLog(run_id, "act")
        act_log.event("action_fallback", "fallback", refs.ref("C0000001"), reason="policy: placeholder in message")

        scored = [c for c in ids if c not in excluded_profiling]
        prob = np.clip(rng.beta(2, 3, len(scored)) + 0.05 * r, 0, 1)
        prob[0] = 0.91  # C0000001 is High risk
        segment = np.where(prob >= 0.6, "High", np.where(prob >= 0.3, "Medium", "Low"))
        predictions = pd.DataFrame({
            "run_id": run_id, "customer_id": scored, "churn_probability": prob, "segment": segment,
            "drivers": [json.dumps(["contract", "tenure_months"])] * len(scored),  # as explain.top_drivers
            "model_version": version, "scored_at": started + pd.Timedelta(minutes=1)})
        marketing_ok = [c for c in scored if c not in ("C0000004",)]
        targets = predictions[predictions.segment.isin(["High", "Medium"]) & predictions.customer_id.isin(marketing_ok)]
        statuses = ["control" if i % 5 == 4 else ("fallback" if i == 1 else "proposed") for i in range(len(targets))]
        actions = pd.DataFrame({
            "run_id": run_id, "customer_id": targets.customer_id.to_numpy(), "segment": targets.segment.to_numpy(),
            "action_type": ["none" if s == "control" else "discount" for s in statuses], "channel": "email",
            "discount_pct": [0.0 if s == "control" else 10.0 for s in statuses],
            "message": ["held out: control group" if s == "control" else "We value you: 10% off your next bill."
                        for s in statuses],
            "status": statuses, "provider": "local", "model": "rules", "prompt_version": "act-v1",
            "model_version": version, "created_at": started + pd.Timedelta(minutes=2)})
        analysis = pd.DataFrame({
            "run_id": run_id, "feedback_id": feedback_ids, "customer_id": fb_customers,
            "anonymized_text": ["I am <PERSON_1>, call me on <PHONE_1>: billing is wrong"] * 30,
            "sentiment": [-0.6 if i % 3 == 0 else (0.0 if i % 3 == 1 else 0.7) for i in range(30)],
            "sentiment_label": ["negative" if i % 3 == 0 else ("neutral" if i % 3 == 1 else "positive") for i in range(30)],
            "topics": [json.dumps([TOPICS[i % 5], TOPICS[(i + 1) % 5]]) for i in range(30)],
            "summary": ["Customer reports a billing error."] * 30, "status": "ok",
            "provider": "groq", "model": "openai/gpt-oss-20b", "prompt_version": "fb-v1",
            "pii_counts": json.dumps({"PHONE": 1, "PERSON": 1})})
        egress = pd.DataFrame({
            "request_id": [f"{run_id}-req-{i}" for i in range(3)], "run_id": run_id, "stage": "feedback",
            "provider": "groq", "model": "openai/gpt-oss-20b", "prompt_version": "fb-v1",
            "payload": [json.dumps({"items": [{"ref": f"item-{i}", "text": "I am <PERSON_1>, call me on <PHONE_1>: "
                                               f"billing is wrong (batch {i})"}]}) for i in range(3)],
            "payload_sha256": [audit.sha256_hex(str(i)) for i in range(3)], "n_items": 8,
            "sent_at": started + pd.Timedelta(seconds=30), "outcome": ["ok", "ok", "retried_ok"],
            "prompt_tokens": 1000, "completion_tokens": 200, "latency_ms": 350.0, "attempts": 1})
        registry = pd.DataFrame({
            "model_version": [version], "run_id": [run_id], "path": [str(artefact)], "algorithm": ["hist_gb+isotonic"],
            "metrics": [json.dumps({"roc_auc": 0.81, "brier": 0.16,
                                    "feature_importance": {"contract": 0.4, "tenure_months": 0.35, "monthly_charges": 0.25}})],
            "card_path": [str(card)], "n_train": [32], "trained_at": [started + pd.Timedelta(seconds=40)]})
        log.event("run_finished", "ok", status_detail="succeeded")
        with db.session(db_path) as con, db.transaction(con):
            con.execute("INSERT INTO runs (run_id, started_at, finished_at, status, params, llm_provider) "
                        "VALUES (?, ?, ?, 'succeeded', '{}', 'groq')",
                        [run_id, started, started + pd.Timedelta(minutes=3)])
            for table, frame in (("stage_runs", pd.DataFrame(stage_rows)), ("predictions", predictions),
                                 ("actions", actions), ("feedback_analysis", analysis), ("llm_egress", egress),
                                 ("model_registry", registry)):
                db.insert_df(con, table, frame)
            for buffer in (fb_log, pred_log, act_log, log):
                buffer.flush(con)
            head = audit.chain_head(con)
        audit.write_manifest(run_dir, run_id, head, audit.artefact_hashes({**artefacts, "model": artefact, "model_card": card}))
    fixture = Fixture(root, data_dir, db_path, audit_dir, snapshot_dir_of(db_path), key_file, refs)
    if publish:
        snapshot_publish.publish(Workspace.open(db_path, audit_dir=str(audit_dir)), fixture.snapshot_dir)
    return fixture


def audit_stage_names():
    return ("ingest", "feedback", "train", "predict", "act")


@pytest.fixture
def fx(tmp_path, monkeypatch) -> Fixture:
    monkeypatch.delenv("WORKBENCH_SUBJECT_KEY", raising=False)
    return build_fixture(tmp_path)


@pytest.fixture
def data(fx):
    loaded = snapshot_data.load(fx.snapshot_dir)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def built_once(tmp_path_factory, _shared_caches) -> Fixture:
    """The same fixture database, built once for the tests that only read it and its snapshot
    (a test that changes either takes `fx`, its own)."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_home(mp, tmp_path_factory.mktemp("home"), _shared_caches)
        return build_fixture(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def read_only(built_once):
    """`data`, loaded once from `built_once`: for tests that only query the snapshot."""
    loaded = snapshot_data.load(built_once.snapshot_dir)
    yield loaded
    loaded.close()


# --------------------------------------------------------------------------------------------

def test_publish_switches_generation_atomically_and_leaves_no_temp_files(fx):
    first = snapshot_publish.current_generation(fx.snapshot_dir)
    assert sorted(p.name for p in fx.snapshot_dir.iterdir()) == [snapshot_publish.POINTER, first.name]
    assert {p.name for p in first.iterdir()} == {snapshot_publish.META, *(t + ".parquet" for t in snapshot_publish.TABLES)}
    second = snapshot_publish.publish(Workspace.open(fx.db_path, audit_dir=str(fx.audit_dir)), fx.snapshot_dir)
    assert second != first and snapshot_publish.current_generation(fx.snapshot_dir) == second
    # The previous generation stays (a dashboard may still read it) until the grace period ends.
    assert sorted(p.name for p in fx.snapshot_dir.iterdir()) == sorted([snapshot_publish.POINTER, first.name, second.name])
    old = time.time() - snapshot_publish.KEEP_OLD_GENERATIONS_S - 10
    os.utime(first, (old, old))
    third = snapshot_publish.publish(Workspace.open(fx.db_path, audit_dir=str(fx.audit_dir)), fx.snapshot_dir)
    assert sorted(p.name for p in fx.snapshot_dir.iterdir()) == sorted([snapshot_publish.POINTER, second.name, third.name])
    later = [snapshot_publish.publish(Workspace.open(fx.db_path, audit_dir=str(fx.audit_dir)), fx.snapshot_dir) for _ in range(3)]
    kept = sorted(p.name for p in fx.snapshot_dir.iterdir() if p.name.startswith("gen-"))
    assert kept == sorted(p.name for p in later)  # current + KEEP_PREVIOUS_GENERATIONS, however fast runs come


def _snapshot_text(generation: Path) -> tuple[str, set[str]]:
    """Every value and column name in the snapshot, as text."""
    con = duckdb.connect()
    try:
        texts, columns = [], set()
        for table in snapshot_publish.TABLES:
            frame = con.execute(f"SELECT * FROM read_parquet('{generation / (table + '.parquet')}')").df()
            columns |= set(frame.columns)
            texts.append(frame.to_csv())
    finally:
        con.close()
    return "\n".join(texts) + (generation / snapshot_publish.META).read_text(), columns


def test_snapshot_holds_no_raw_identifiers_or_feedback_text(fx):
    text, columns = _snapshot_text(snapshot_publish.current_generation(fx.snapshot_dir))
    for value in RAW_IDENTIFIERS + ("LC000000", "billing is wrong (no anonymization)"):
        assert value not in text
    assert "call me on <PHONE_1>" in text  # the anonymized text is there
    assert not columns & {"name", "email", "phone", "loyalty_card_no", "text"}
    data = snapshot_data.load(fx.snapshot_dir)
    try:
        assert list(data.query("SELECT * FROM customers LIMIT 1").columns) == [
            "customer_id", "contract", "tenure_months", "monthly_charges", "churned"]
    finally:
        data.close()


def test_kpis_and_last_run(read_only, built_once):
    data, fx = read_only, built_once
    assert data.state == "ready"
    k = data.kpis()
    assert k["customers"] == N_CUSTOMERS
    assert k["scored"] == N_CUSTOMERS - 2  # two customers without profiling consent
    assert sum(k["segments"][s] for s in SEGMENTS) == k["scored"]
    con = duckdb.connect(str(fx.db_path), read_only=True)
    try:
        avg, control = con.execute(
            "SELECT avg(churn_probability), (SELECT count(*) FROM actions WHERE run_id = ? AND status = 'control') "
            "FROM predictions WHERE run_id = ?", [RUNS[1], RUNS[1]]).fetchone()
    finally:
        con.close()
    assert k["avg_churn_probability"] == pytest.approx(avg)
    assert k["control_group"] == control > 0
    assert k["prediction_run"] == RUNS[1]
    run = data.last_run()
    assert run["run_id"] == RUNS[1] and run["status"] == "succeeded"
    assert run["volumes"]["scored"] == N_CUSTOMERS - 2 and run["volumes"]["llm_requests"] == 3
    trend = data.trend()
    assert trend["run_id"].tolist() == list(RUNS)
    assert (trend["scored"] == N_CUSTOMERS - 2).all()


def test_customer_filters(read_only):
    data = read_only
    everyone = data.customers(limit=1000)
    assert everyone.total == N_CUSTOMERS == len(everyone.rows)
    high = data.customers(snapshot_data.CustomerFilter(segment="High"), limit=1000)
    assert 0 < high.total < N_CUSTOMERS and set(high.rows["segment"]) == {"High"}
    band = data.customers(snapshot_data.CustomerFilter(min_probability=0.4, max_probability=0.7), limit=1000)
    assert band.rows["churn_probability"].between(0.4, 0.7).all()
    assert data.customers(snapshot_data.CustomerFilter(segment=NOT_SCORED)).rows["customer_id"].tolist() == [
        "C0000003", "C0000005"]
    neg = data.customers(snapshot_data.CustomerFilter(sentiment="negative"), limit=1000)
    assert neg.total > 0 and set(neg.rows["sentiment_label"]) == {"negative"}
    topic = data.customers(snapshot_data.CustomerFilter(topic="billing"), limit=1000)
    assert topic.total > 0 and topic.rows["topics"].str.contains("billing").all()
    no_marketing = data.customers(snapshot_data.CustomerFilter(consent="no marketing"), limit=1000)
    assert set(no_marketing.rows["customer_id"]) == {"C0000004", "C0000005"}  # withdrawn, and no record
    control = data.customers(snapshot_data.CustomerFilter(action_status="control"), limit=1000)
    assert control.total == data.kpis()["control_group"]
    page = data.customers(limit=5, offset=5)
    assert len(page.rows) == 5 and page.total == N_CUSTOMERS
    options = data.filter_options()
    assert options["segment"][:3] == ["High", "Medium", "Low"] and "billing" in options["topic"]
    with pytest.raises(ValueError):
        data.customers(snapshot_data.CustomerFilter(consent="telepathy"))


def test_drill_down_shows_analysis_and_audit_trail_but_no_identifiers(read_only, built_once):
    data, fx = read_only, built_once
    detail = data.customer_detail("C0000001", fx.refs)
    assert detail["segment"] == "High" and detail["churn_probability"] == pytest.approx(0.91)
    assert detail["drivers"]["feature"].tolist() == ["contract", "tenure_months"]
    assert detail["drivers"]["value"].iloc[0] == detail["profile"]["contract"]
    assert not detail["feedback"].empty
    assert detail["feedback"]["anonymized_text"].str.contains("<PHONE_1>").all()
    assert set(detail["consent"]["purpose"]) == {"profiling", "external_llm", "marketing"}
    assert detail["actions"]["status"].tolist()[0] in ("proposed", "fallback", "control")
    trail = detail["audit_trail"]
    assert trail["event_type"].tolist() == ["action_fallback", "action_fallback"]
    assert set(trail["subject_ref"]) == {fx.refs.ref("C0000001")}
    frames = [v for v in detail.values() if isinstance(v, pd.DataFrame)]
    text = repr(detail) + "".join(frame.to_csv() for frame in frames)
    for value in RAW_IDENTIFIERS + ("LC000000",):
        assert value not in text
    columns = set(detail["profile"]) | set(detail["summary"]) | {c for f in frames for c in f.columns}
    assert not columns & {"name", "email", "phone", "loyalty_card_no", "text"}
    assert detail["profile"]["contract"] in ("month-to-month", "one-year", "two-year")
    excluded = data.customer_detail("C0000003", fx.refs)
    assert excluded["segment"] is None and excluded["audit_trail"]["event_type"].tolist() == ["consent_excluded"] * 2
    assert data.customer_detail("C0000001")["audit_trail_note"]
    assert data.customer_detail("nobody") is None


def test_model_section(read_only):
    data = read_only
    versions = data.model_versions()
    assert len(versions) == 2 and versions["roc_auc"].iloc[0] == pytest.approx(0.81)
    version = versions["model_version"].iloc[0]
    card = data.model_card(version)
    assert card.startswith("# Model card")
    # Local plot links would make the browser ask the server for files: the plots are shown instead.
    assert "](roc_curve.png)" not in card and "ROC curve: shown under Evaluation plots" in card
    assert "example.org" not in card and "logo: not loaded (remote)" in card
    images = data.model_images(version)
    assert [n for n, _ in images] == ["calibration.png", "roc_curve.png"]
    assert all(content.startswith(b"\x89PNG") for _, content in images)
    importance = data.feature_importance(version)
    assert importance["feature"].tolist() == ["contract", "tenure_months", "monthly_charges"]
    drivers = data.driver_frequency()
    assert drivers.to_dict("list") == {"feature": ["contract", "tenure_months"], "customers": [38, 38],
                                       "as_top_driver": [38, 0]}


def test_consent_coverage_latest_record_wins_and_no_record_is_no_consent(read_only):
    data = read_only
    cov = data.consent_coverage().set_index("purpose")
    assert (cov["customers"] == N_CUSTOMERS).all()
    assert cov.loc["profiling", "no_record"] == 2  # C0000003 and C0000005
    assert cov.loc["marketing", "refused_or_withdrawn"] == 1  # C0000004's later withdrawal wins
    assert cov.loc["marketing", "granted"] == N_CUSTOMERS - 2
    assert cov.loc["external_llm", "refused_or_withdrawn"] == 2
    assert (cov["granted"] + cov["refused_or_withdrawn"] + cov["no_record"] == cov["customers"]).all()


def test_governance_queries(read_only):
    data = read_only
    counts = data.anonymization_counts().set_index("entity_type")["count"].to_dict()
    assert counts == {"PHONE": 32, "PERSON": 12, "EMAIL": 4, "IBAN": 1}
    assert data.anonymization_counts(RUNS[1]).set_index("entity_type")["count"].to_dict() == {"PHONE": 2, "IBAN": 1}
    blocks = data.egress_blocks()
    assert len(blocks) == 1 and blocks["run_id"].iloc[0] == RUNS[1]
    hits = data.egress_search("batch 2")
    assert hits.total == 2 and hits.rows["payload"].str.contains("batch 2").all()
    assert data.egress_search("batch 2", run_id=RUNS[0]).total == 1
    assert data.egress_search("").total == 6
    usage = data.llm_usage()
    assert usage["requests"].tolist() == [3, 3] and usage["prompt_tokens"].tolist() == [3000, 3000]
    assert usage["est_cost_usd"].iloc[0] == pytest.approx((3000 * 0.10 + 600 * 0.50) / 1e6, abs=1e-4)
    assert data.llm_usage(prices={})["est_cost_usd"].isna().all()
    events = data.audit_events(run_id=RUNS[0], stage="predict", event_type="consent_excluded", status="excluded")
    assert len(events) == 2
    options = data.audit_filter_options()
    assert set(options["run_id"]) == set(RUNS) and "anonymized" in options["event_type"]


def test_verify_status_recorded_at_publish(fx, data):
    status = data.audit_status()
    assert status["ok"] is True and status["runs_checked"] == 2 and status["events"] > 0
    # Tamper with the audit log, republish: the snapshot records the failure (red, not green).
    with db.session(fx.db_path) as con:
        con.execute("UPDATE audit_log SET status = 'ok' WHERE event_type = 'egress_blocked'")
    snapshot_publish.publish(Workspace.open(fx.db_path, audit_dir=str(fx.audit_dir)), fx.snapshot_dir)
    again = snapshot_data.load(fx.snapshot_dir)
    try:
        bad = again.audit_status()
        assert bad["ok"] is False and any("altered" in p for p in bad["problems"])
    finally:
        again.close()


def test_runs_and_notebook_hashes(read_only):
    data = read_only
    runs = data.runs()
    assert runs["run_id"].tolist() == list(reversed(RUNS)) and runs["has_manifest"].all()
    notebooks = data.run_notebooks(RUNS[0])
    assert notebooks["stage"].tolist() == list(audit_stage_names())
    assert notebooks["manifest_sha256_matches"].all()
    assert notebooks["notebook_sha256"].str.len().eq(64).all()
    assert data.run_manifest(RUNS[0])["run_id"] == RUNS[0]


def test_missing_and_empty_states(tmp_path):
    missing = snapshot_data.load(tmp_path / "nowhere")
    assert missing.state == "missing" and "make run" in missing.message
    # A database with the schema but no run yet (and a missing one) publish an "empty" snapshot.
    empty_db = tmp_path / "empty" / "workbench.duckdb"
    with db.session(empty_db):
        pass
    for source in (empty_db, tmp_path / "absent" / "workbench.duckdb"):
        snapshot_publish.publish(Workspace.open(source, audit_dir=str(tmp_path / "audit")), tmp_path / "snap")
        data = snapshot_data.load(tmp_path / "snap")
        try:
            assert data.state == "empty" and "make run" in data.message
        finally:
            data.close()
    (tmp_path / "junk" / "gen-1").mkdir(parents=True)
    (tmp_path / "junk" / snapshot_publish.POINTER).write_text("gen-1")
    (tmp_path / "junk" / "gen-1" / snapshot_publish.META).write_text("{}")
    (tmp_path / "junk" / "gen-1" / "runs.parquet").write_bytes(b"not parquet")
    junk = snapshot_data.load(tmp_path / "junk")
    assert junk.state == "unreadable" and "make run" in junk.message


def test_loaded_snapshot_survives_republish_and_db_lock(fx):
    """The dashboard reads only the snapshot: a process holding the workbench DB read-write does
    not stop it, and a publish while the dashboard has the snapshot open does not disturb it."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)"),
        str(fx.db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        data = snapshot_data.load(fx.snapshot_dir)
        try:
            assert data.state == "ready" and data.kpis()["customers"] == N_CUSTOMERS
        finally:
            data.close()
    finally:
        holder.kill()
        holder.wait()
    data = snapshot_data.load(fx.snapshot_dir)
    try:
        snapshot_publish.publish(Workspace.open(fx.db_path, audit_dir=str(fx.audit_dir)), fx.snapshot_dir)
        assert data.kpis()["customers"] == N_CUSTOMERS  # still reading the (now unlinked) old file
    finally:
        data.close()


def test_removed_generation_asks_for_reload(fx):
    data = snapshot_data.load(fx.snapshot_dir)
    try:
        shutil.rmtree(data.path)
        with pytest.raises(SnapshotGone):
            data.customers()
    finally:
        data.close()


def test_dashboard_sections_build_without_errors(fx, data, monkeypatch):
    """Every section and the drill-down build on the fixture (the page wraps them in a guard that
    would hide an exception, so they are called directly here)."""
    from churn_workbench.dashboard import widgets as dashboard
    from churn_workbench.config import load_settings
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(fx.data_dir))
    monkeypatch.setenv("WORKBENCH_DB", str(fx.db_path))
    settings = load_settings()
    ctx = dashboard.Context(settings, dashboard.subject_refs(settings))
    assert ctx.refs is not None and ctx.refs.ref("C0000001") == fx.refs.ref("C0000001")
    for _, section in dashboard.SECTIONS:
        assert section(data, ctx) is not None
    detail = dashboard.customer_detail(data, ctx, "C0000001")
    html_text = "".join(getattr(w, "value", "") for w in detail.children if isinstance(getattr(w, "value", ""), str))
    assert "C0000001" in html_text and "&lt;PHONE_1&gt;" in html_text and "Anna" not in html_text
    app = dashboard.Dashboard(None, settings)
    assert app.data.state == "ready" and app.snapshot_dir == fx.snapshot_dir
    assert app.body.children[0].titles == ("Overview", "Customers", "Model", "Governance", "Runs", "Effect")
    app.data.close()


def test_dashboard_without_snapshot_shows_the_run_first_page(tmp_path, monkeypatch):
    from churn_workbench.dashboard import widgets as dashboard
    from churn_workbench.config import load_settings
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "workbench.duckdb"))
    monkeypatch.delenv("WORKBENCH_SUBJECT_KEY", raising=False)
    settings = load_settings()
    app = dashboard.Dashboard("", settings)
    assert app.data.state == "missing"
    assert "make run" in app.body.children[0].value
    assert dashboard.subject_refs(settings) is None and not (tmp_path / ".subject_key").exists()  # never creates a key
