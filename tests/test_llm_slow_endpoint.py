"""A slow endpoint (a private model on a CPU) is recognised by its first answers; the engine
adapts (one request at a time, one item per request, a longer timeout), audits and says so, and
when even that gets no answer it stops early and its failure names what to set.

The fast tests drive the engine with an in-process provider that *reports* latencies (no waiting);
the slow ones use the real openai SDK against the fake server with one slot and per-item latency.
"""
from __future__ import annotations

import json

import pytest
from fake_llm_server import fake_llm_server  # noqa: F401  (the fixture)

from churn_workbench import config, db
from churn_workbench.audit import AuditLog
from churn_workbench.config import load_settings
from churn_workbench.errors import LLMUnavailable, ProviderError
from churn_workbench.llm import (PROVIDERS, EgressJournal, FeedbackItem, analyze_feedback, local, progress, prompts,
                                 register_provider)
from churn_workbench.llm.adapt import GIVE_UP_AFTER, Limits, SlowEndpointWatch
from churn_workbench.llm.base import ChatReply, Provider

TEXTS = ["The signal drops every evening and support never calls back.",
         "Great network, thank you, the new app is really useful.",
         "My bill was higher than the plan price again.",
         "Too expensive, a competitor offers more data for less."]


def feedback(n: int) -> list[FeedbackItem]:
    return [FeedbackItem(f"fb-{i:03d}", f"C{i:04d}", f"{TEXTS[i % len(TEXTS)]} Case {i}.", True) for i in range(n)]


def events(audit, kind: str) -> list[dict]:
    return [json.loads(e["details"]) for e in audit.pending if e["event_type"] == kind]


@pytest.fixture
def clean_env(monkeypatch):
    for f in config.knobs():
        monkeypatch.delenv(f.metadata["env"], raising=False)
    return monkeypatch


def settings(provider: str, **kw):
    base = dict(llm_provider=provider, llm_batch_size=4, llm_concurrency=2, llm_requests_per_minute=0,
                llm_tokens_per_minute=0, llm_timeout_s=5.0, llm_adapt_max_timeout_s=20.0, llm_progress=False,
                llm_progress_file=False, llm_backoff_s=0.001, llm_fallback_threshold=0.5)
    base.update(kw)
    return load_settings(**base)


# ------------------------------------------------------------------ the watch itself

def test_slow_first_answers_adapt_once_and_fast_ones_never():
    watch = SlowEndpointWatch(Limits(4, 8, 30.0), max_timeout_s=300)
    assert watch.observe(20.0, False, 0) is None  # one slow answer of the first four: not yet
    adaptation = watch.observe(1.0, True, 0)      # a timeout: two of four
    assert adaptation.after == Limits(1, 1, 300.0) and adaptation.before == Limits(4, 8, 30.0)
    assert adaptation.details()["slow_answers"] == 2 and watch.generation == 1
    assert "--llm-profile local-cpu" in adaptation.line("openai", "m") and "WORKBENCH_LLM_TIMEOUT=300" in adaptation.line("openai", "m")
    assert watch.observe(1.0, True, 0) is None    # sent before the change: says nothing now
    assert watch.observe(40.0, False, 1) is None  # adapts only once

    fast = SlowEndpointWatch(Limits(4, 8, 30.0), max_timeout_s=300)
    assert all(fast.observe(2.0, False, 0) is None for _ in range(4))
    assert fast.observe(29.0, False, 0) is None and fast.observe(29.0, False, 0) is None  # later: not the first
    assert fast.generation == 0 and not fast.hopeless


def test_nothing_to_lower_then_timeouts_in_a_row_are_hopeless_and_off_means_off():
    watch = SlowEndpointWatch(Limits(1, 1, 300.0), max_timeout_s=300)  # the local-cpu profile's settings
    assert watch.observe(300.0, True, 0) is None and watch.generation == 0
    assert not watch.hopeless
    watch.observe(12.0, False, 0)                 # an answer breaks the row
    for _ in range(GIVE_UP_AFTER - 1):
        watch.observe(300.0, True, 0)
    assert not watch.hopeless
    watch.observe(300.0, True, 0)
    assert watch.hopeless

    off = SlowEndpointWatch(Limits(4, 8, 30.0), max_timeout_s=300, enabled=False)
    assert all(off.observe(30.0, True, 0) is None for _ in range(10)) and not off.hopeless


# ------------------------------------------------------------------ the engine, with reported latencies

class ReportedLatency(Provider):
    """Takes `per_item_ms` per item (reported, not waited); a request longer than its timeout times out."""
    name = "reported-latency"
    per_item_ms = 1000.0
    seen: list = []

    def model_for(self, task):
        return "cpu-1"

    def send(self, body, timeout_s):
        items = json.loads(body["messages"][-1]["content"])
        type(self).seen.append((len(items), timeout_s))
        sent = prompts.json_compact(body)
        latency = self.per_item_ms * len(items)
        if latency >= timeout_s * 1000:
            raise ProviderError("timeout", sent_body=sent, latency_ms=timeout_s * 1000)
        results = [dict(local.analyze_one(i["text"]), ref=i["ref"]) for i in items]
        reply = {"choices": [{"message": {"content": json.dumps({"results": results})}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 50, "completion_tokens": 20}}
        return ChatReply(200, json.dumps(reply), {}, sent, latency)


@pytest.fixture
def cpu():
    register_provider(ReportedLatency.name, ReportedLatency)
    ReportedLatency.seen = []
    yield ReportedLatency
    PROVIDERS.pop(ReportedLatency.name)


def test_slow_answers_lead_to_one_item_at_a_time_with_a_longer_timeout(clean_env, cpu, capsys):
    cpu.per_item_ms = 1000.0  # 4 items: 4 s of a 5 s timeout
    audit = AuditLog("r", "feedback")
    out = analyze_feedback(feedback(16), settings(cpu.name), audit, "r", {})
    assert set(out.rows["status"]) == {"ok"}
    (adapted,) = events(audit, "llm_endpoint_adapted")
    assert (adapted["concurrency_before"], adapted["batch_size_before"], adapted["timeout_s_before"]) == (2, 4, 5.0)
    assert (adapted["concurrency_after"], adapted["batch_size_after"], adapted["timeout_s_after"]) == (1, 1, 20.0)
    assert cpu.seen[0] == (4, 5.0)
    assert all(n == 1 for n, timeout in cpu.seen if timeout == 20.0) and sum(t == 20.0 for _, t in cpu.seen) >= 8
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if "is slow" in ln]
    assert "--llm-profile local-cpu" in line and "WORKBENCH_LLM_CONCURRENCY=1" in line
    assert out.stats["endpoint_adapted"] == 1


def test_the_line_reaches_the_runner_terminal_through_the_progress_file(clean_env, cpu, tmp_path):
    cpu.per_item_ms = 1000.0
    path = tmp_path / "wb.duckdb"
    with db.session(path):
        pass
    shown: list[str] = []
    with progress.following(path, "run-s", shown.append, interval_s=60):  # what the runner does per stage
        analyze_feedback(feedback(8), settings(cpu.name, llm_progress_file=True), AuditLog("run-s", "feedback"),
                         "run-s", {}, journal=EgressJournal(path, "run-s", "feedback"))
    (line,) = [ln for ln in shown if "is slow" in ln]
    assert "--llm-profile local-cpu" in line and "1 item per request" in line


def test_requests_that_timed_out_under_the_old_settings_are_sent_again_without_losing_a_try(clean_env, cpu):
    cpu.per_item_ms = 2000.0  # 4 items: 8 s, beyond the 5 s timeout; one item: 2 s of 20 s
    audit = AuditLog("r", "feedback")
    out = analyze_feedback(feedback(8), settings(cpu.name, llm_item_tries=1, llm_max_attempts=1), audit, "r", {})
    assert set(out.rows["status"]) == {"ok"}  # one try each, and still answered
    assert len(events(audit, "llm_endpoint_adapted")) == 1
    assert "endpoint_adapted" in {e["reason"] for e in events(audit, "llm_retry")}
    assert "timeout" in set(out.egress["outcome"])  # the timed-out requests stay recorded as such


def test_no_answer_even_after_adapting_stops_early_and_names_what_to_set(clean_env, cpu):
    cpu.per_item_ms = 1e9  # never answers in time
    audit = AuditLog("r", "feedback")
    with pytest.raises(LLMUnavailable) as excinfo:
        analyze_feedback(feedback(12), settings(cpu.name, llm_concurrency=1), audit, "r", {})
    message = str(excinfo.value)
    assert "WORKBENCH_LLM_TIMEOUT=300" in message and "one item at a time" in message
    after = [s for s in cpu.seen if s[1] == 20.0]
    assert len(after) == GIVE_UP_AFTER  # then it stopped instead of waiting out every item
    assert {e["reason"] for e in events(audit, "llm_egress_stopped")} == {"endpoint_too_slow"}


def test_without_adaptation_the_failure_names_the_profile(clean_env, cpu):
    cpu.per_item_ms = 1e9
    audit = AuditLog("r", "feedback")
    with pytest.raises(LLMUnavailable) as excinfo:
        analyze_feedback(feedback(8), settings(cpu.name, llm_adapt=False, llm_max_attempts=1), audit, "r", {})
    message = str(excinfo.value)
    assert "timeout: 8" in message and "--llm-profile local-cpu" in message
    assert "WORKBENCH_LLM_CONCURRENCY=1 WORKBENCH_LLM_BATCH_SIZE=1" in message
    assert not events(audit, "llm_endpoint_adapted") and {t for _, t in cpu.seen} == {5.0}


# ------------------------------------------------------------------ the real openai SDK, a one-slot server

@pytest.fixture
def one_slot(fake_llm_server, clean_env):
    for key, value in fake_llm_server.env().items():
        clean_env.setenv(key, value)
    for var in ("OPENAI_LOG", "GROQ_LOG"):
        clean_env.delenv(var, raising=False)
    fake_llm_server.configure(slots=1)
    return fake_llm_server


@pytest.mark.slow
def test_a_one_slot_server_near_the_timeout_ends_with_every_item_answered(one_slot, capsys):
    one_slot.configure(latency_per_item_s=0.3)  # 4 items: 1.2 s of a 2 s timeout, queued behind each other
    audit = AuditLog("r", "feedback")
    out = analyze_feedback(feedback(12), settings("openai", llm_timeout_s=2.0, llm_adapt_max_timeout_s=10.0),
                           audit, "r", {})
    assert set(out.rows["status"]) == {"ok"}
    (adapted,) = events(audit, "llm_endpoint_adapted")
    assert adapted["timeout_s_after"] == 10.0 and adapted["concurrency_after"] == adapted["batch_size_after"] == 1
    sizes = [len(r.items) for r in one_slot.chat_requests()]
    first_single = sizes.index(1)
    assert sizes[0] == 4 and set(sizes[first_single:]) == {1} and len(sizes) - first_single >= 4
    assert "--llm-profile local-cpu" in capsys.readouterr().out


@pytest.mark.slow
def test_a_server_that_never_answers_in_time_fails_naming_the_timeout(one_slot):
    one_slot.configure(latency_per_item_s=30.0)
    audit = AuditLog("r", "feedback")
    with pytest.raises(LLMUnavailable, match="WORKBENCH_LLM_TIMEOUT=300"):
        analyze_feedback(feedback(4), settings("openai", llm_batch_size=2, llm_timeout_s=0.5,
                                               llm_adapt_max_timeout_s=1.0), audit, "r", {})
    assert len(events(audit, "llm_endpoint_adapted")) == 1
    assert {e["reason"] for e in events(audit, "llm_egress_stopped")} == {"endpoint_too_slow"}
