"""LLM profiles: named presets of request-engine settings for a kind of endpoint.

    WORKBENCH_LLM_PROFILE=local-cpu        # or run_pipeline.py --llm-profile local-cpu

A preset fills only the settings the user did not set: an explicit `WORKBENCH_*` variable or an
override passed to `load_settings` always wins. The profile travels to the stage kernels as the
environment variable, so the runner and every kernel see the same settings.

Keys are `Settings` field names; `extra` entries are tuning knobs (see llm/base.py `knob`).
"""
from __future__ import annotations

import os

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
        "extra": {"llm_max_attempts": 2, "llm_max_rate_limited": 4, "llm_item_tries": 2, "llm_backoff_s": 2.0},
    },
}

# Settings field -> the environment variable that sets it explicitly (config.load_settings).
ENV_NAMES = {
    "llm_batch_size": "WORKBENCH_LLM_BATCH_SIZE", "llm_concurrency": "WORKBENCH_LLM_CONCURRENCY",
    "llm_timeout_s": "WORKBENCH_LLM_TIMEOUT", "llm_requests_per_minute": "WORKBENCH_LLM_RPM",
    "llm_tokens_per_minute": "WORKBENCH_LLM_TPM", "llm_max_completion_tokens": "WORKBENCH_LLM_MAX_COMPLETION_TOKENS",
    "llm_temperature": "WORKBENCH_LLM_TEMPERATURE", "llm_seed": "WORKBENCH_LLM_SEED",
    "llm_response_format": "WORKBENCH_LLM_RESPONSE_FORMAT",
}


def check(name: str | None) -> str:
    """The profile name, normalised; ValueError naming the choices for an unknown one."""
    name = (name or "").strip().lower()
    if name and name not in PROFILES:
        raise ValueError(f"unknown LLM profile {name!r}; choose one of {', '.join(sorted(PROFILES))}")
    return name


def use(name: str | None) -> str:
    """Select a profile for this process and every stage kernel it starts (the CLI's one line)."""
    name = check(name)
    if name:
        os.environ["WORKBENCH_LLM_PROFILE"] = name
    return name


def apply_profile(values: dict, overrides: dict | None = None) -> dict:
    """Settings values with the selected profile's presets filled in where nothing explicit is set."""
    overrides = overrides or {}
    name = check(overrides.get("llm_profile") or values.get("llm_profile"))
    values = dict(values, llm_profile=name)
    for key, preset in PROFILES.get(name, {}).items():
        if key == "extra":
            values["extra"] = {**preset, **dict(values.get("extra") or {})}
            continue
        explicit = overrides.get(key) is not None or os.environ.get(ENV_NAMES.get(key, "-")) not in (None, "")
        if not explicit:
            values[key] = preset
    return values
