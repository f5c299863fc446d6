"""The dashboard's words: one format per kind of value, plain labels, and the data behind the
paged audit log, the per-run volumes and the data-set letters."""
from __future__ import annotations

import pandas as pd
import pytest

from churn_workbench.dashboard import data as snapshot_data
from churn_workbench.dashboard import words
from test_dashboard_data import N_CUSTOMERS, RUNS, build_fixture


def test_one_format_per_kind_of_value():
    assert words.pct(0.8534) == "85.3%" and words.pct(None) == ""
    assert words.points(0.139) == "+13.9 points" and words.points(-0.05) == "-5.0 points"
    assert words.when("2026-01-02T08:03:12.123456+00:00") == "2026-01-02 08:03"
    assert words.when(pd.Timestamp("2026-01-02 08:03:59.9")) == "2026-01-02 08:03"
    assert words.short("a" * 64) == "a" * 12 + "…" and words.short("abc") == "abc"
    assert words.yes_no(True) == "yes" and words.yes_no(False) == "no" and words.yes_no(None) == "no record"
    assert words.seconds(24.7) == "24.7 s" and words.seconds(100) == "1 min 40 s"
    assert words.status("policy_fallback") == "catalogue offer (AI text rejected)"
    assert words.event("consent_excluded") == "a customer was left out: no consent for this purpose"
    assert words.event("something_new") == "something new"
    assert words.entity("EMAIL") == "e-mail addresses" and words.entity("NEW_KIND") == "new kind"
    assert sorted(["Low", "High", "not scored", "Medium"], key=words.segment_key) == ["High", "Medium", "Low",
                                                                                      "not scored"]


def test_details_read_as_one_line():
    text = words.details('{"purpose": "profiling", "entities": {"PHONE": 2}, "note": "' + "x" * 300 + '"}')
    assert text.startswith('purpose: profiling; entities: {"PHONE": 2}; note: x') and text.endswith("…")
    assert len(text) == 220


def test_readable_renames_formats_and_orders():
    frame = pd.DataFrame({"churn_probability": [0.853], "customer_id": ["C1"], "consent_marketing": [None],
                          "model_version": ["f" * 64], "unlisted_column": [1]})
    shown = words.readable(frame, ["customer_id", "churn_probability", "consent_marketing", "model_version"])
    assert list(shown.columns) == ["Customer", "Churn probability", "May be contacted", "Model version"]
    assert shown.iloc[0].tolist() == ["C1", "85.3%", "no record", "f" * 12 + "…"]
    assert list(words.readable(frame[["unlisted_column"]]).columns) == ["unlisted column"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    fixture = build_fixture(tmp_path_factory.mktemp("words"))
    loaded = snapshot_data.load(fixture.snapshot_dir)
    yield loaded
    loaded.close()


def test_audit_log_pages_summary_and_one_event(data):
    everything = data.audit_page(limit=5, offset=0)
    assert len(everything.rows) == 5 and everything.total > 5
    second = data.audit_page(limit=5, offset=5)
    assert second.rows["seq"].max() < everything.rows["seq"].min()  # newest first, no overlap
    summary = data.audit_summary()
    assert summary["events"].sum() == everything.total
    assert summary.set_index("event_type").loc["consent_excluded", "events"] == 4
    only = data.audit_summary(run_id=RUNS[0], event_type="consent_excluded")
    assert only["event_type"].tolist() == ["consent_excluded"] and only["events"].tolist() == [2]
    event = data.audit_event(int(everything.rows["seq"].iloc[0]))
    assert event["seq"] == everything.rows["seq"].iloc[0] and isinstance(event["details"], dict)
    assert data.audit_event(10_000) is None


def test_run_volumes_are_the_runs_own_and_store_counts_apart(data):
    assert data.run_volumes(RUNS[1])["scored"] == N_CUSTOMERS - 2
    assert data.run_volumes(RUNS[1])["llm_requests"] == 3
    assert "customers" not in data.run_volumes(RUNS[1])
    assert data.store_counts()["customers"] == N_CUSTOMERS


def test_data_set_letters(data):
    assert snapshot_data._letters(["x", "x", None, "y", "x"]) == ["A", "A", None, "B", "A"]
    trend = data.trend()
    assert "data_set" in trend.columns and len(trend) == len(RUNS)
    versions = data.model_versions()
    assert "training_data" in versions.columns
