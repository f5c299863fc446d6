"""Numeric settings from the environment meet their range where they enter (one line naming the
variable), never a stage's overflow or a silent nonsense value (a negative batch size)."""
from __future__ import annotations

import pytest

from churn_workbench.boundary.numbers import MAX_COUNT, check_range
from churn_workbench.config import load_settings
from churn_workbench.errors import UsageError


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "wb.duckdb"))
    return monkeypatch


@pytest.mark.parametrize("name,value,words", [
    ("WORKBENCH_LLM_BATCH_SIZE", "-1", "from 1 to"),
    ("WORKBENCH_LLM_BATCH_SIZE", "0", "from 1 to"),
    ("WORKBENCH_LLM_CONCURRENCY", "0", "from 1 to"),
    ("WORKBENCH_LLM_RPM", "-5", "from 0 to"),
    ("WORKBENCH_LLM_MAX_TOKENS", "99999999999", str(MAX_COUNT)),
    ("WORKBENCH_LLM_TIMEOUT", "nan", "at least 0.1"),
    ("WORKBENCH_LLM_TIMEOUT", "inf", "at least 0.1"),
    ("WORKBENCH_LLM_TIMEOUT", "0", "at least 0.1"),
    ("WORKBENCH_LLM_TEMPERATURE", "5", "from 0 to 2"),
    ("WORKBENCH_LLM_FALLBACK_THRESHOLD", "1.5", "from 0 to 1"),
    ("WORKBENCH_MODEL_MIN_AUC", "-0.1", "from 0 to 1"),
    ("WORKBENCH_MODEL_MIN_LABELLED", "0", "from 1 to"),
    ("WORKBENCH_RETENTION_FEEDBACK_DAYS", "99999999999", "from 0 to 36500"),
    ("WORKBENCH_RETENTION_EGRESS_DAYS", "-1", "from 0 to 36500"),
    ("WORKBENCH_SEGMENT_HIGH_BUDGET", "-3", "from 0 to"),
])
def test_a_number_out_of_range_is_refused_naming_the_variable(env, name, value, words):
    env.setenv(name, value)
    with pytest.raises(UsageError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{name}={value}") or message.startswith(f"{name}={float(value)}"), message
    assert words in message and "\n" not in message


@pytest.mark.parametrize("name,value", [
    ("WORKBENCH_LLM_BATCH_SIZE", "1"), ("WORKBENCH_LLM_RPM", "0"), ("WORKBENCH_LLM_TEMPERATURE", "none"),
    ("WORKBENCH_RETENTION_FEEDBACK_DAYS", "36500"), ("WORKBENCH_LLM_MIN_BATCH", "none"),
    ("WORKBENCH_MODEL_MIN_AUC", "1"),
])
def test_the_bounds_themselves_and_none_are_accepted(env, name, value):
    load_settings()  # the defaults lie in their ranges
    env.setenv(name, value)
    load_settings()


def test_check_range_ignores_what_is_not_a_number():
    for value in (None, True, "x", object()):
        check_range("X", value, 1, 2)
    with pytest.raises(UsageError, match=r"^X=3: must be a number from 1 to 2$"):
        check_range("X", 3, 1, 2)
