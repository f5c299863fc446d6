"""The published recall/precision targets, measured on tests/data/pii_corpus.jsonl."""

from __future__ import annotations

import json

import pytest

from churn_workbench import pii_eval
from churn_workbench.anonymize import KnownIdentifiers

CORPUS = pii_eval.DEFAULT_CORPUS


@pytest.fixture(scope="module")
def records():
    return pii_eval.load_corpus(CORPUS)


@pytest.fixture(scope="module")
def report(records):
    return pii_eval.evaluate(records, time_it=False)


@pytest.fixture(scope="module")
def holdout_report(records):
    return pii_eval.evaluate([r for r in records if r.split == "holdout"], time_it=False)


def test_corpus_is_large_varied_and_well_formed(records):
    spans = [s for r in records for s in r.spans]
    assert len(spans) >= 300
    kinds = {s.type for s in spans}
    assert {"PERSON", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "URL"} <= kinds
    assert sum(s.own for s in spans) >= 100
    assert sum(not r.spans for r in records) >= 50  # negatives, for precision
    for r in records:
        for s in r.spans:
            assert 0 <= s.start < s.end <= len(r.text)
            assert r.text[s.start : s.end].strip() == r.text[s.start : s.end]
        if any(s.own for s in r.spans):
            assert isinstance(r.known, KnownIdentifiers)


def test_customers_own_identifiers_all_found_and_fully_covered(report):
    assert report.own.recall == 1.0
    assert report.own.coverage == 1.0


@pytest.mark.parametrize("family", ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN"])
def test_structured_identifiers_recall_at_least_99_percent(report, family):
    assert report.families[family].recall >= 0.99


def test_person_name_recall_at_least_90_percent(report, holdout_report):
    assert report.families["PERSON"].recall >= 0.90
    assert holdout_report.families["PERSON"].recall >= 0.90


def test_precision_is_reported_and_high(report):
    assert report.overall.precision >= 0.95
    assert report.families["PERSON"].precision >= 0.95
    assert report.negative_records_with_findings <= report.negative_records * 0.05


def test_holdout_split_meets_the_same_targets(holdout_report):
    assert holdout_report.records >= 50
    assert holdout_report.own.recall == 1.0
    assert holdout_report.structured.recall >= 0.9


def test_matching_rule_uses_type_families():
    rec = pii_eval.Record(
        "customer id C-12345 and Anna",
        None,
        (pii_eval.Span(12, 19, "CUSTOMER_ID"), pii_eval.Span(24, 28, "PERSON")),
    )
    report = pii_eval.evaluate([rec], time_it=False)
    assert report.families["ID"].found == 1  # detected as ACCOUNT_NUMBER: same family
    assert report.families["PERSON"].found == 1
    assert pii_eval.family("ACCOUNT_NUMBER") == pii_eval.family("CUSTOMER_ID") == "ID"


def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    small = tmp_path / "corpus.jsonl"
    small.write_text(
        json.dumps({"text": "mail anna@example.com", "known": None,
                    "spans": [{"start": 5, "end": 21, "type": "EMAIL"}]}) + "\n"
        + json.dumps({"text": "Thanks, all good.", "known": None, "spans": []}) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "report.json"
    assert pii_eval.main(["--corpus", str(small), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "EMAIL" in printed and "precision%" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["families"]["EMAIL"]["recall"] == 1.0
    assert data["families"]["EMAIL"]["precision"] == 1.0
    assert data["negative_records_with_findings"] == 0
    assert data["ms_per_text"] > 0


def test_cli_missing_corpus_is_a_usage_error(tmp_path):
    assert pii_eval.main(["--corpus", str(tmp_path / "nope.jsonl")]) == 2
