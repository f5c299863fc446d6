"""The provider interface, the SDK-backed base both remote providers share, and result types.

A provider does exactly one thing: send one chat request, once. Retries, limits, batching,
validation and fallbacks live in engine.py, so they behave the same for every backend and
every retry is ours (SDK retries are off) and therefore counted and audited.

Write-ahead: the engine installs a callback (`on_wire`) for the calling thread; an SDK provider
calls it from an httpx request hook with the exact bytes about to be written to the socket, so
the record of a request is durable before the request exists on the network. A provider that
cannot do that (`reports_wire = False`) gets the callback called by the engine before `send`.
"""
from __future__ import annotations

import contextlib
import threading
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import pandas as pd

from .. import config
# Re-exported: backends raise ConfigurationError and ProviderError; callers catch CapabilityError.
from ..errors import CapabilityError, ConfigurationError, ProviderError, WriteAheadError  # noqa: F401
from . import sdklog
from .prompts import PROMPT_VERSION


# --------------------------------------------------------------------------- public item types


@dataclass
class FeedbackItem:
    feedback_id: str
    customer_id: str          # never sent anywhere; used only to attach results locally
    text: str                 # already anonymized
    external_allowed: bool    # external_llm consent; False => local analyzer only, no egress
    # The language the text as written is mainly in, when the allow rule cannot vet it
    # (egress.languages.unvetted_language): the item stays home. None: it may go.
    unvetted_language: str | None = None


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


_wire = threading.local()


@contextlib.contextmanager
def on_wire(callback):
    """Within the block, providers call `callback(exact_body_text)` right before bytes leave."""
    _wire.callback, _wire.error = callback, None
    try:
        yield
    finally:
        _wire.callback = None


def wire_error() -> BaseException | None:
    return getattr(_wire, "error", None)


def _call_wire(text: str) -> None:
    callback = getattr(_wire, "callback", None)
    if callback is None:
        return
    try:
        callback(text)
    except BaseException as exc:
        _wire.error = exc
        raise


_CAPABILITY_HINTS = ("response_format", "json_schema", "json_object", "'text' or", "grammar", "structured output",
                     "not supported", "unsupported")


def is_capability_error(status: int | None, body_text: str) -> bool:
    """An HTTP 400/422/500/501 whose message is about the response format we asked for."""
    text = (body_text or "").lower()
    return status in (400, 422, 500, 501) and any(h in text for h in _CAPABILITY_HINTS) \
        and "json_validate_failed" not in text


class Provider(ABC):
    name: str = ""
    external: bool = True     # does a request leave the machine?
    reports_wire: bool = False  # calls the on_wire callback itself with the exact bytes
    schema_keywords: str = "full"  # "full" (grammar-capable servers) or "portable" (strict-mode subset)

    def __init__(self, settings=None):
        self.settings = settings

    @abstractmethod
    def model_for(self, task: str) -> str:
        """Model id used for `task` ("analysis" or "action")."""

    def prompt_version(self, task: str) -> str:
        return PROMPT_VERSION[task]

    def build_body(self, model: str, messages: list[dict], response_format: dict | None, max_tokens: int) -> dict:
        """The complete request body: the residual gate runs over exactly this, then it is sent as is."""
        body = {"model": model, "messages": messages, "max_tokens": max_tokens}
        if response_format is not None:
            body["response_format"] = response_format
        return self.sampling(body)

    def sampling(self, body: dict) -> dict:
        """temperature and seed from the settings (None = not sent): repeatable answers, a fair cache."""
        for key, name in (("temperature", "llm_temperature"), ("seed", "llm_seed")):
            value = getattr(self.settings, name, None)
            if value is not None:
                body[key] = value
        return body

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
    reports_wire = True

    def _http_client(self, timeout: float):
        """The SDK's own httpx client class, with a request hook that reports the exact bytes."""
        def hook(request) -> None:
            _call_wire(_request_text(request) or "")
        return self._sdk.DefaultHttpxClient(timeout=timeout, event_hooks={"request": [hook]})

    def __init__(self, settings=None):
        super().__init__(settings)
        api_key = config.secret(self.key_env)  # only from the environment or .env, never a parameter
        if not api_key:
            raise ConfigurationError(
                f"the {self.name!r} LLM backend needs the {self.key_env} environment variable "
                f"(set it in the environment or in .env); it is not set")
        # SDK debug logging prints request bodies; our record of egress is llm_egress, not a log.
        removed = sdklog.neutralise() + [v for v in sdklog.REMOVED if v == self.sdk_log_env]
        if self.sdk_log_env in removed:
            warnings.warn(f"{self.sdk_log_env} ignored: the workbench never logs request bodies")
        self._sdk = self._import_sdk()
        sdklog.neutralise()  # again: an SDK imported before us may have set its loggers to DEBUG
        timeout = float(getattr(settings, "llm_timeout_s", 30.0) or 30.0)
        # max_retries=0: every retry is made (and counted, and audited) by engine.py.
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
            if wire_error() is not None:
                raise WriteAheadError(str(wire_error())) from None
            raise ProviderError("connection", None, None, _request_text(getattr(exc, "request", None)),
                                (time.perf_counter() - started) * 1000) from None
        except sdk.APIStatusError as exc:
            status = exc.status_code
            detail = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}"
            kind = ("capability" if is_capability_error(status, detail)
                    else "rate_limited" if status == 429 else "auth" if status in (401, 403)
                    else "server_error" if status >= 500 or status in (408, 409)
                    # Groq's 400 when a reply failed schema validation: the next sample may pass.
                    else "invalid_response" if "json_validate_failed" in str(getattr(exc, "body", ""))
                    else "rejected")
            response = exc.response
            raise ProviderError(kind, status, _lower(response.headers), _request_text(response.request),
                                (time.perf_counter() - started) * 1000) from None
        except Exception:  # e.g. a body cut off mid-read: the SDK lets httpx errors through
            if wire_error() is not None:
                raise WriteAheadError(str(wire_error())) from None
            raise ProviderError("connection", None, None, None, (time.perf_counter() - started) * 1000) from None
        return ChatReply(status_code=response.status_code, body=text, headers=_lower(response.headers),
                         sent_body=_request_text(response.request) or "",
                         latency_ms=(time.perf_counter() - started) * 1000)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            pass
