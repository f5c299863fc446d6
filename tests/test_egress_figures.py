"""The published figures of the default-deny anonymizer hold on the project's labelled corpus
(tests/data/pii_corpus.jsonl via bench/pii_eval.py): every category kept home end to end,
over-masking on PII-free texts at most 3% of words, utility at least 95% in every language
with enough records."""
from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import pii_eval  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def records():
    return pii_eval.load_corpus()


def test_every_category_is_kept_home_end_to_end(records):
    from churn_workbench.anonymize import anonymize

    result = pii_eval.end_to_end(records, lambda text, known: anonymize(text, known).text)
    assert {fam: t.recall for fam, t in result.items() if t.recall < 1.0} == {}


def test_over_masking_on_pii_free_texts_is_at_most_three_percent_of_words(records):
    assert pii_eval.over_masking(records)["share"] <= 0.03


def test_utility_holds_in_every_language_with_ten_records(records):
    per_language = pii_eval.utility(records)["per_language"]
    assert {lang: v["agree"] for lang, v in per_language.items() if v["records"] >= 10 and v["agree"] < 0.95} == {}
