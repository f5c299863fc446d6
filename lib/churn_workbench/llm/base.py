"""The provider interface, the SDK-backed base both remote providers share, and result types.

A provider does exactly one thing: send one chat request, once. Retries, limits, batching,
validation and fallbacks live in batching.py, so they behave the same for every backend and
every retry is ours (SDK retries are off) and therefore counted and audited.
"""
from __future__ import annotations

import logging
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import pandas as pd

from .. import config
from ..errors import ConfigurationError  # re-exported: the backends raise it


def knob(settings, name: str, default):
    """A tuning value: settings.extra[name], else the setting `name` (WORKBENCH_<NAME>), else
    `default` (its type wins)."""
    extra = getattr(settings, "extra", None) or {}
    value = extra[name] if name in extra else getattr(settings, name, None)
    if value is None or value == "":
        return default
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).strip().lower() not in ("0", "false", "no", "off")
    return type(default)(value)


# --------------------------------------------------------------------------- public item types


@dataclass
class FeedbackItem:
    feedback_id: str
    customer_id: str          # never sent anywhere; used only to attach results locally
    text: str                 # already anonymized
    external_allowed: bool    # external_llm consent; False => local analyzer only, no egress


@dataclass
class ActionRequest:
    customer_id: str          # never sent
    segment: str              # High | Medium | Low
    churn_probability: float
    drivers: list[str]        # feature names
    topics: list[str]         # from the fixed taxonomy
    sentiment_label: str | None
    external_allowed: bool    # external_llm consent; False => local catalogue action, no egress


@dataclass
class AnalysisOutcome:
    rows: pd.DataFrame        # one row per FeedbackItem, same order
    egress: pd.DataFrame      # rows for table llm_egress
    new_cache: pd.DataFrame   # rows for table analysis_cache (column order = table order)
    stats: dict = field(default_factory=dict)


@dataclass
class ActionOutcome:
    rows: pd.DataFrame        # one row per ActionRequest, same order
    egress: pd.DataFrame
    stats: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- provider interface


@dataclass
class ChatReply:
    status_code: int
    body: str                 # the raw response text: parsed and validated by the caller
    headers: dict[str, str]   # lower-cased names
    sent_body: str            # the exact request body that left the machine
    latency_ms: float


class ProviderError(Exception):
    """One failed attempt. `kind` decides what the caller does next:

    rate_limited, server_error, timeout, connection, invalid_response -> retry with backoff;
    auth -> stop all egress for the run; rejected -> no retry, the items fall back.
    """

    RETRYABLE = ("rate_limited", "server_error", "timeout", "connection", "invalid_response")

    def __init__(self, kind: str, status_code: int | None = None, headers: dict | None = None,
                 sent_body: str | None = None, latency_ms: float = 0.0):
        super().__init__(f"{kind} (HTTP {status_code})" if status_code else kind)
        self.kind = kind
        self.status_code = status_code
        self.headers = headers or {}
        self.sent_body = sent_body
        self.latency_ms = latency_ms

    @property
    def retryable(self) -> bool:
        return self.kind in self.RETRYABLE


class Provider(ABC):
    name: str = ""
    external: bool = True     # does a request leave the machine?

    def __init__(self, settings=None):
        self.settings = settings

    @abstractmethod
    def model_for(self, task: str) -> str:
        """Model id used for `task` ("analysis" or "action")."""

    def prompt_version(self, task: str) -> str:
        from .prompts import PROMPT_VERSION

        return PROMPT_VERSION[task]

    def build_body(self, model: str, messages: list[dict], response_format: dict, max_tokens: int) -> dict:
        """The complete request body: the residual gate runs over exactly this, then it is sent as is."""
        return {"model": model, "messages": messages, "response_format": response_format,
                "max_tokens": max_tokens}

    @abstractmethod
    def send(self, body: dict, timeout_s: float) -> ChatReply:
        """Send one request once. Raises ProviderError on failure; never retries."""

    def close(self) -> None:
        pass


def _lower(headers) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}


def _request_text(request) -> str | None:
    try:
        content = request.content if request is not None else None
    except Exception:  # a streaming body that was never read: nothing of it is ours to record
        return None
    return content.decode("utf-8", "replace") if content else None


class SDKProvider(Provider):
    """Shared by the groq and openai providers: both SDKs are generated from the same template,
    with the same exception classes and `.with_raw_response` (which exposes headers)."""

    key_env = ""
    sdk_log_env = ""

    def __init__(self, settings=None):
        super().__init__(settings)
        api_key = config.secret(self.key_env)  # only from the environment or .env, never a parameter
        if not api_key:
            raise ConfigurationError(
                f"the {self.name!r} LLM backend needs the {self.key_env} environment variable "
                f"(set it in the environment or in .env); it is not set")
        if config.env_flag(self.sdk_log_env).lower() == "debug":
            # SDK debug logging prints request bodies; our record of egress is llm_egress, not a log.
            warnings.warn(f"{self.sdk_log_env}=debug ignored: the workbench does not log request bodies")
            for logger in (self.name, "httpx", "httpx2", "httpcore"):
                logging.getLogger(logger).setLevel(logging.WARNING)
        self._sdk = self._import_sdk()
        timeout = float(getattr(settings, "llm_timeout_s", 30.0) or 30.0)
        # max_retries=0: every retry is made (and counted, and audited) by batching.py.
        self._client = self._make_client(api_key, timeout)

    def _import_sdk(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _make_client(self, api_key: str, timeout: float):  # pragma: no cover - overridden
        raise NotImplementedError

    def send(self, body: dict, timeout_s: float) -> ChatReply:
        sdk = self._sdk
        started = time.perf_counter()
        try:
            raw = self._client.chat.completions.with_raw_response.create(**body, timeout=timeout_s)
            response = raw.http_response
            text = response.text
        except sdk.APITimeoutError as exc:
            raise ProviderError("timeout", None, None, _request_text(getattr(exc, "request", None)),
                                (time.perf_counter() - started) * 1000) from None
        except sdk.APIConnectionError as exc:
            raise ProviderError("connection", None, None, _request_text(getattr(exc, "request", None)),
                                (time.perf_counter() - started) * 1000) from None
        except sdk.APIStatusError as exc:
            status = exc.status_code
            kind = ("rate_limited" if status == 429 else "auth" if status in (401, 403)
                    else "server_error" if status >= 500 or status in (408, 409)
                    # Groq's 400 when a reply failed schema validation: the next sample may pass.
                    else "invalid_response" if "json_validate_failed" in str(getattr(exc, "body", ""))
                    else "rejected")
            response = exc.response
            raise ProviderError(kind, status, _lower(response.headers), _request_text(response.request),
                                (time.perf_counter() - started) * 1000) from None
        except Exception:  # e.g. a body cut off mid-read: the SDK lets httpx errors through
            raise ProviderError("connection", None, None, None, (time.perf_counter() - started) * 1000) from None
        return ChatReply(status_code=response.status_code, body=text, headers=_lower(response.headers),
                         sent_body=_request_text(response.request) or "",
                         latency_ms=(time.perf_counter() - started) * 1000)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            pass
