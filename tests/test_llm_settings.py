"""Every LLM setting is a Settings field; a profile fills only what was not set explicitly, and the
engine uses exactly what the settings say (no second place to read a value from)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from churn_workbench import config
from churn_workbench.audit import AuditLog
from churn_workbench.config import Settings, load_settings
from churn_workbench.errors import ProviderError
from churn_workbench.llm import PROVIDERS, FeedbackItem, analyze_feedback, register_provider
from churn_workbench.llm.base import Provider
from churn_workbench.profiles import PROFILES


@pytest.fixture
def clean_env(monkeypatch):
    for f in config.knobs():
        monkeypatch.delenv(f.metadata["env"], raising=False)
    return monkeypatch


class AlwaysFailing(Provider):
    """Answers every request with a 503, and counts them."""
    name = "always-failing"
    sent = 0

    def model_for(self, task):
        return "failing-1"

    def send(self, body, timeout_s):
        type(self).sent += 1
        raise ProviderError("server_error", 503)


@pytest.fixture
def failing():
    register_provider(AlwaysFailing.name, AlwaysFailing)
    AlwaysFailing.sent = 0
    yield AlwaysFailing
    PROVIDERS.pop(AlwaysFailing.name)


def test_an_explicit_variable_beats_the_profile_in_the_engine(clean_env, failing):
    clean_env.setenv("WORKBENCH_LLM_MAX_ATTEMPTS", "5")
    clean_env.setenv("WORKBENCH_LLM_PROFILE", "local-cpu")  # what --llm-profile local-cpu sets
    settings = load_settings(llm_provider=failing.name, llm_progress=False, llm_progress_file=False,
                             llm_backoff_s=0.001, llm_fallback_threshold=1.0)
    assert settings.llm_max_attempts == 5
    # what was not set explicitly comes from the profile
    assert settings.llm_max_rate_limited == PROFILES["local-cpu"]["llm_max_rate_limited"] != 8
    assert settings.llm_batch_size == 1 and settings.llm_concurrency == 1
    assert settings.llm_backoff_s == 0.001  # an override is explicit too

    out = analyze_feedback([FeedbackItem("f1", "c1", "The signal drops every evening.", True)], settings,
                           AuditLog("r", "feedback"), "r", {})
    assert failing.sent == 5  # five attempts of the one request, not the profile's two
    assert list(out.egress["attempts"]) == [5] and list(out.rows["status"]) == ["fallback"]


def test_an_override_and_a_variable_both_beat_the_profile(clean_env):
    clean_env.setenv("WORKBENCH_LLM_ITEM_TRIES", "7")
    settings = load_settings(llm_profile="local-cpu", llm_max_attempts=6)
    assert settings.llm_max_attempts == 6 and settings.llm_item_tries == 7
    assert settings.llm_backoff_s == PROFILES["local-cpu"]["llm_backoff_s"]
    assert load_settings(llm_profile="local-cpu", llm_item_tries=9).llm_item_tries == 9  # override > variable


def test_every_tuning_value_is_a_documented_field_and_there_is_no_side_door():
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert "extra" not in fields
    with pytest.raises(TypeError, match="unknown setting"):
        load_settings(extra={"llm_max_attempts": 5})
    for f in config.knobs():
        assert f.metadata["help"].strip(), f.name
    for name, preset in PROFILES.items():
        assert set(preset) <= set(fields), name


def test_values_in_code_are_real_fields_too(clean_env, failing):
    settings = dataclasses.replace(load_settings(llm_provider=failing.name, llm_progress=False,
                                                 llm_progress_file=False, llm_backoff_s=0.001,
                                                 llm_fallback_threshold=1.0), llm_max_attempts=2)
    audit = AuditLog("r", "feedback")
    analyze_feedback([FeedbackItem("f1", "c1", "Too expensive for what it is.", True)], settings, audit, "r", {})
    retries = [json.loads(e["details"]) for e in audit.pending if e["event_type"] == "llm_retry"]
    assert failing.sent == 2 and len(retries) == 1
