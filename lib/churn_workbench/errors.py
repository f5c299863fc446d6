"""The workbench's exceptions: one root, and the exit code each kind of failure means.

The runner sees a stage's failure only by the exception's class name (the stage runs in another
process); `exit_code_for_name` looks the class up here and classifies it by its place in this
hierarchy, so a new subclass is classified correctly without touching the runner.
"""
from __future__ import annotations


class WorkbenchError(Exception):
    """Root of every error the workbench raises on purpose. Exit code 1: something failed."""

    exit_code = 1

    def __init__(self, message: str = ""):
        # One line: messages end up on a terminal and in run records.
        super().__init__(" ".join(str(message).split()))

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: in a notebook run by hand (Jupyter,
        # papermill) a refusal is its one line, as on the command line. The error's class still
        # travels as the cell's `ename`, which is what the runner reads.
        return [f"{type(self).__name__}: {self}"]


class UsageError(WorkbenchError):
    """Bad command-line usage or configuration: exit code 2, one line."""

    exit_code = 2


class InputError(UsageError, ValueError):
    """A problem with an input file; the message says which file, column or rows and what to do."""


class TrainingError(InputError):
    """The labelled data cannot train a model (too few rows, a single class, no usable feature), or
    a model that may not be promoted has no previous one to keep. A bad-input error."""


class PipelineBusy(UsageError):
    """Another pipeline run holds the database."""


class DatabaseLocked(UsageError):
    """Another process holds the DuckDB file."""


class ConfigurationError(UsageError):
    """A backend or setting is not configured (missing key, URL or model)."""


class ModelIntegrityError(WorkbenchError):
    """A model artefact does not match its registered sha256 (tampering or a partial copy), or
    holds types outside the allow-list."""


class StageInputMissing(WorkbenchError):
    """A stage found nothing to work on: an earlier stage has not run on this database."""


class ErasureIncomplete(WorkbenchError):
    """After an erasure, something of the customer is still held (exit 1, naming it)."""


class SnapshotGone(WorkbenchError):
    """The dashboard snapshot being read was replaced or removed."""


# ------------------------------------------------------------------ the LLM layer


class CapabilityError(ConfigurationError):
    """The LLM endpoint rejects every response format the settings allow: the stage fails loudly."""


class WriteAheadError(WorkbenchError):
    """The record of an LLM request could not be made durable before sending: nothing is sent."""


class LLMUnavailable(WorkbenchError):
    """More items fell back than `llm_fallback_threshold` allows: the stage fails instead of
    pretending the model answered."""


class ProviderError(WorkbenchError):
    """One failed attempt of one LLM request; the request engine handles it and it never leaves the
    engine. `kind` decides what the engine does next:

    rate_limited, server_error, timeout, connection, invalid_response -> retry with backoff;
    auth -> stop all egress for the run; rejected -> no retry, the items fall back;
    capability -> the endpoint does not support the response_format asked for (e.g.
    llama-cpp-python's "Input should be 'text' or 'json_object'"): never retried as is, the engine
    degrades to the next mode, or fails loudly (CapabilityError).
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


class UnreadableReply(WorkbenchError):
    """An LLM reply that came back but cannot be used (truncated, not JSON, no choices, cut off by
    max_tokens); handled inside the request engine. `usage`: the tokens the server billed for it."""

    def __init__(self, message: str, usage: tuple[int, int] = (0, 0)):
        super().__init__(message)
        self.usage = usage


class QuotaExhausted(WorkbenchError):
    """The LLM server says no request is left for longer than we are willing to wait (e.g. a daily
    quota); the request engine stops egress for the run."""
# Shell convention for a process ended by a signal: 128 + its number.
INTERRUPT_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def workbench_class(class_name: str | None) -> type[WorkbenchError] | None:
    """The workbench error class of that name (an exception known only by its name, from a stage
    kernel), or None for anything else (a bug, or a library's own exception)."""
    for cls in _subclasses(WorkbenchError):
        if cls.__name__ == class_name:
            return cls
    return None


def exit_code_for_name(class_name: str | None) -> int:
    """Exit code the error of that class name means on its own; 1 if unknown. (A failed stage
    always ends the run with 1: the runner does not use this for stages.)"""
    cls = workbench_class(class_name)
    return cls.exit_code if cls else 1
