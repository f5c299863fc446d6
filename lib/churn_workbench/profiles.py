"""LLM profiles: named presets of request-engine settings for a kind of endpoint.

    WORKBENCH_LLM_PROFILE=local-cpu        # or run_pipeline.py --llm-profile local-cpu

A preset fills only the settings the user did not set: an explicit `WORKBENCH_*` variable or an
override passed to `load_settings` always wins. The profile travels to the stage kernels as the
environment variable, so the runner and every kernel see the same settings.

Keys are `Settings` field names (lib/churn_workbench/config.py), so every value a profile sets
is a setting with its own variable, and that variable overrides it.
"""
from __future__ import annotations

PROFILES: dict[str, dict] = {
    # The defaults: a fast cloud API with a per-minute quota (Groq free tier and alike).
    "cloud": {},
    # One CPU llama.cpp / Ollama / vLLM-on-CPU server with a single slot: one request at a time,
    # one item per request (small models mix up the items of a batch, and the server caches the
    # shared system-prompt prefix, so a request costs little more than its item), generous timeouts, no
    # client-side quota, answers short enough for a small model, and few retries: a slow server
    # that timed out once will time out again.
    "local-cpu": {
        "llm_batch_size": 1,
        "llm_concurrency": 1,
        "llm_timeout_s": 300.0,
        "llm_requests_per_minute": 0,
        "llm_tokens_per_minute": 0,
        "llm_max_completion_tokens": 1024,
        "llm_temperature": 0.0,
        "llm_seed": 7,
        "llm_response_format": "auto",
        "llm_max_attempts": 2,
        "llm_max_rate_limited": 4,
        "llm_item_tries": 2,
        "llm_backoff_s": 2.0,
    },
}


def check(name: str | None) -> str:
    """The profile name, normalised; ValueError naming the choices for an unknown one."""
    name = (name or "").strip().lower()
    if name and name not in PROFILES:
        raise ValueError(f"unknown LLM profile {name!r}; choose one of {', '.join(sorted(PROFILES))}")
    return name


def apply_profile(values: dict, explicit: set[str]) -> dict:
    """Settings values with the selected profile's presets filled in where nothing explicit is set."""
    name = check(values.get("llm_profile"))
    values = dict(values, llm_profile=name)
    for key, preset in PROFILES.get(name, {}).items():
        if key not in explicit:
            values[key] = preset
    return values
