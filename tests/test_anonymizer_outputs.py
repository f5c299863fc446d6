"""The anonymizer and the allow rule decide exactly what they decided when
tests/data/anonymizer_outputs.json was recorded (tests/data/make_anonymizer_outputs.py): the
same anonymized text and counts, the same findings, the same denied spans, the same gate
refusals, on the labelled corpus and on the throughput workload of `make bench-pii`. A change
made for speed must leave every one of them as it was; a change meant to alter a decision
re-records the file and says so."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "data"))
import make_anonymizer_outputs as recorded  # noqa: E402

RECORD = json.loads(recorded.OUT.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def default_rules():
    from churn_workbench.egress import allow

    recorded.default_rules()
    yield
    allow.configure(None)


def _corpus():
    lines = (ROOT / "tests" / "data" / "pii_corpus.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == [r["text"] for r in RECORD["corpus"]], \
        "the corpus changed since the outputs were recorded: run tests/data/make_anonymizer_outputs.py"
    return [(r["text"], recorded.known_of(r.get("known"))) for r in records], RECORD["corpus"]


def _differences(got, want, field):
    return [(i, g[field]) for i, (g, w) in enumerate(zip(got, want)) if g[field] != w[field]]


@pytest.mark.slow  # loads every language's word lists and segmenters
def test_anonymized_corpus_texts_and_counts_are_unchanged():
    from churn_workbench.anonymize import anonymize

    pairs, want = _corpus()
    got = []
    for text, known in pairs:
        out = anonymize(text, known)
        got.append({"anonymized": out.text, "counts": dict(sorted(out.counts.items()))})
    assert _differences(got, want, "anonymized") == []
    assert _differences(got, want, "counts") == []


@pytest.mark.slow  # loads every language's word lists and segmenters
def test_findings_on_the_corpus_are_unchanged():
    from churn_workbench.anonymize import find_pii

    pairs, want = _corpus()
    got = [{"findings": [[f.entity_type, f.start, f.end, f.source] for f in find_pii(t, k)]} for t, k in pairs]
    assert _differences(got, want, "findings") == []


@pytest.mark.slow  # loads every language's word lists and segmenters
def test_allow_rule_gate_and_output_check_on_the_corpus_are_unchanged():
    from churn_workbench.egress import allow, gate, output

    pairs, want = _corpus()
    got = [{
        "denied": [[d.start, d.end, d.label] for d in allow.denied(text)],
        "gate": [r.entity_type for r in gate.denials(text)],
        "output_check": output.violations(w["anonymized"], w["anonymized"]),
    } for (text, _), w in zip(pairs, want)]
    for field in ("denied", "gate", "output_check"):
        assert _differences(got, want, field) == []


def test_the_recorded_outputs_are_not_trivial():
    """The record holds masked texts, refusals and detector findings, so comparing against it
    can fail: an anonymizer that passed everything through would not match."""
    corpus = RECORD["corpus"]
    assert sum(r["anonymized"] != r["text"] for r in corpus) > 500
    assert sum(bool(r["gate"]) for r in corpus) > 300
    assert sum(bool(r["findings"]) for r in corpus) > 500


def test_workload_sample_is_anonymized_as_recorded():
    from churn_workbench.anonymize import KnownIdentifiers, anonymize

    sample = RECORD["workload_sample"]
    changed = []
    for i, row in enumerate(sample):
        k = row["known"]
        known = None if k is None else KnownIdentifiers(k["name"], k["email"], k["phone"], tuple(k["extra"]))
        out = anonymize(row["text"], known)
        if out.text != row["anonymized"] or dict(sorted(out.counts.items())) != row["counts"]:
            changed.append(i)
    assert changed == []


@pytest.mark.slow
def test_whole_bench_workload_is_anonymized_as_recorded():
    """All 18,125 texts of `make bench-pii`'s workload, by digest (slow: about ten seconds)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import pii_bench

    pairs = pii_bench.workload(RECORD["workload_customers"])
    assert len(pairs) == RECORD["workload_texts"], "the synthetic generator changed: re-record the outputs"
    assert recorded.digest(recorded.workload_outputs(pairs)) == RECORD["workload_sha256"]


def test_results_kept_per_text_follow_a_change_of_the_rules():
    """A text anonymized once is not answered from the kept result after the allow rule's
    threshold changes, nor after the data owner's allow-list does."""
    from churn_workbench.anonymize import anonymize
    from churn_workbench.egress import allow, vocabulary

    text = "The zorblax router keeps dropping the connection."
    before = anonymize(text).text
    assert "zorblax" not in before and "keeps" in before  # a rare word masked, a common one not
    vocabulary.set_owner_words(["zorblax"])
    try:
        assert "zorblax" in anonymize(text).text
    finally:
        vocabulary.set_owner_words([])
    assert anonymize(text).text == before
    allow.configure(allow.Rules(min_zipf=7.5))  # only the very commonest words leave
    assert "keeps" not in anonymize(text).text
