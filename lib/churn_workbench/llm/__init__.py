"""LLM layer: interchangeable backends behind one small interface, and the two entry points.

    from churn_workbench.llm import analyze_feedback, propose_actions, get_provider, PROVIDERS

Backends are registered by name in registry.py (papermill's engine-registry shape): `local`
(offline, the default), `groq` (groq SDK), `openai` (openai SDK against OPENAI_BASE_URL: vLLM,
Ollama, llama.cpp, ...). Names are resolved lazily, so importing this package neutralises the SDKs' debug logging
before either SDK is imported (see sdklog.py).
"""
from __future__ import annotations

import importlib

from . import sdklog

sdklog.neutralise()

_EXPORTS = {
    "PROVIDERS": "registry", "register_provider": "registry", "get_provider": "registry",
    "ActionOutcome": "base", "ActionRequest": "base", "AnalysisOutcome": "base", "CapabilityError": "base",
    "ConfigurationError": "base", "FeedbackItem": "base", "Provider": "base", "ProviderError": "base",
    "analyze_feedback": "agent", "propose_actions": "agent", "cache_key": "agent",
    "EgressJournal": "journal",
}
_SUBMODULES = ("adapt", "agent", "attempts", "base", "context", "budget", "engine", "guard", "journal", "local", "policy",
               "progress", "prompts", "ratelimit", "recording", "registry", "replies", "schemas", "sdklog",
               "settle", "workqueue", "groq_provider", "openai_provider")


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = sorted(_EXPORTS)
