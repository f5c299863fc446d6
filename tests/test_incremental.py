"""Incremental runs: an unchanged, offline-analysed text keeps its analysis; one that may now go
to the model, or was analysed by another analyzer version, is analysed afresh; the summary line
says what was worked on and what was kept."""
from __future__ import annotations

import numpy as np
import pandas as pd

from churn_workbench import incremental
from churn_workbench.llm import local, schemas


def _previous(rows):
    base = dict(sentiment=0.1, sentiment_label="neutral", topics="[]", summary="s", status="local",
                provider="local", model=local.LOCAL_MODEL, prompt_version=local.LOCAL_VERSION[schemas.ANALYSIS],
                cache_key=None, prompt_tokens=0, completion_tokens=0, anonymized_text="t", pii_counts="{}")
    return pd.DataFrame([dict(base, source_sha256=src, **changes) for src, changes in rows])


def test_only_unchanged_offline_analyses_are_kept():
    feedback = pd.DataFrame({"feedback_id": ["F1", "F2", "F3", "F4", "F5"], "customer_id": ["A", "B", "C", "D", "E"],
                             "source_sha256": ["same", "edited", "was-sent", "old-analyzer", "same-now-sendable"]})
    previous = _previous([("same", {}), ("was-sent", {"status": "ok", "provider": "openai"}),
                          ("old-analyzer", {"prompt_version": "local-analysis-v0"}), ("same-now-sendable", {})])
    allowed = np.array([False, False, False, False, True])
    kept = incremental.reusable_offline_analyses(feedback, previous, allowed, "openai")
    assert kept["reused"].tolist() == [True, False, False, False, False]
    assert kept.loc[0, ["feedback_id", "customer_id", "summary"]].tolist() == ["F1", "A", "s"]
    # With the offline backend every unchanged offline analysis stands.
    assert incremental.reusable_offline_analyses(feedback, previous, allowed, "local")["reused"].tolist() == \
        [True, False, False, False, True]


def test_the_summary_line_says_what_was_worked_on_and_what_was_kept():
    events = {("ingest", "data_unchanged", None): {}, ("feedback", "anonymized", None): {"texts": 12, "reused": 988},
              ("feedback", "analysis_reused", None): {"items": 980, "analysed": 20},
              ("train", "model_reused", None): {}, ("predict", "predictions_written", None): {"rows": 900,
                                                                                             "reused_unchanged": 890}}
    assert incremental.describe(events) == (
        "inputs unchanged (not read); feedback 12 new or changed of 1,000 anonymized, 20 analysed (980 analyses kept); "
        "model reused (training data unchanged); 10 customers scored (890 unchanged kept their score)")
    assert incremental.describe({}) is None
