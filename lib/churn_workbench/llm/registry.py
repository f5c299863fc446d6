"""The provider registry: backends by name (papermill's engine-registry shape).

It sits beside the interface (base.py) and imports only the provider modules, so nothing that
the registry imports needs the package's __init__: no import cycle.
"""
from __future__ import annotations

from ..vocab import LLM_BACKENDS, REGISTERED_BACKENDS
from .base import ConfigurationError, Provider
from .groq_provider import GroqProvider
from .local import LocalProvider
from .openai_provider import OpenAIProvider

PROVIDERS: dict[str, type[Provider]] = {}


def register_provider(name: str, provider: type[Provider]) -> None:
    """Add (or replace) a backend under `name`."""
    PROVIDERS[name] = provider
    if name not in LLM_BACKENDS:
        REGISTERED_BACKENDS.add(name)  # the boundary's check of a backend name knows it now


def get_provider(name: str | None, settings=None) -> Provider:
    """An instance of the backend registered as `name` (default `local`).

    Raises ConfigurationError for an unknown name or a backend that is not configured
    (e.g. its API key variable is missing)."""
    name = (name or "local").strip().lower()
    if name not in PROVIDERS:
        raise ConfigurationError(f"unknown LLM backend {name!r}; choose one of {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](settings)


register_provider("local", LocalProvider)
register_provider("groq", GroqProvider)
register_provider("openai", OpenAIProvider)
