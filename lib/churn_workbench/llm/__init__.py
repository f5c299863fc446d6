"""LLM layer: interchangeable backends behind one small interface, and the two entry points.

    from churn_workbench.llm import analyze_feedback, propose_actions, get_provider, PROVIDERS

Backends are registered by name (papermill's engine-registry shape): `local` (offline, the
default), `groq` (groq SDK), `openai` (openai SDK against OPENAI_BASE_URL: vLLM, Ollama, ...).
"""
from __future__ import annotations

from .base import (ActionOutcome, ActionRequest, AnalysisOutcome, ConfigurationError, FeedbackItem, Provider,
                   ProviderError)
from .groq_provider import GroqProvider
from .local import LocalProvider
from .openai_provider import OpenAIProvider

PROVIDERS: dict[str, type[Provider]] = {}


def register_provider(name: str, provider: type[Provider]) -> None:
    """Add (or replace) a backend under `name`."""
    PROVIDERS[name] = provider


register_provider("local", LocalProvider)
register_provider("groq", GroqProvider)
register_provider("openai", OpenAIProvider)


def get_provider(name: str | None, settings=None) -> Provider:
    """An instance of the backend registered as `name` (default `local`).

    Raises ConfigurationError for an unknown name or a backend that is not configured
    (e.g. its API key variable is missing)."""
    name = (name or "local").strip().lower()
    if name not in PROVIDERS:
        raise ConfigurationError(f"unknown LLM backend {name!r}; choose one of {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](settings)


from .agent import analyze_feedback, cache_key, propose_actions  # noqa: E402  (needs get_provider)

__all__ = ["PROVIDERS", "ActionOutcome", "ActionRequest", "AnalysisOutcome", "ConfigurationError", "FeedbackItem",
           "Provider", "ProviderError", "analyze_feedback", "cache_key", "get_provider", "propose_actions",
           "register_provider"]
