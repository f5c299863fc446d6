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


class UsageError(WorkbenchError):
    """Bad command-line usage or configuration: exit code 2, one line."""

    exit_code = 2


class InputError(UsageError, ValueError):
    """A problem with an input file; the message says which file, column or rows and what to do."""


class TrainingError(InputError):
    """The labelled data cannot train a model (too few rows, a single class, ...)."""


class PipelineBusy(UsageError):
    """Another pipeline run holds the database."""


class DatabaseLocked(UsageError):
    """Another process holds the DuckDB file."""


class ConfigurationError(UsageError):
    """A backend or setting is not configured (missing key, URL or model)."""


class ModelIntegrityError(WorkbenchError):
    """A model artefact does not match its registered sha256 (tampering or a partial copy)."""


class SnapshotGone(WorkbenchError):
    """The dashboard snapshot being read was replaced or removed."""


# Shell convention for a process ended by a signal: 128 + its number.
INTERRUPT_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def exit_code_for_name(class_name: str | None) -> int:
    """Exit code for an exception known only by its class name (from a stage kernel); 1 if unknown."""
    for cls in _subclasses(WorkbenchError):
        if cls.__name__ == class_name:
            return cls.exit_code
    return 1
