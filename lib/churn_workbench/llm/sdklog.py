"""The groq and openai SDKs' debug logging, neutralised wherever this package is imported.

`GROQ_LOG=debug` / `OPENAI_LOG=debug` make the SDKs log every request's options, body included,
and httpx/httpcore log at DEBUG too. In a stage kernel that log lands in the executed notebook,
an audit artefact; in the runner it lands on the terminal or a CI log. Our one record of what
left the machine is `llm_egress`. So: the variables are removed from the environment before
either SDK is imported (and so never reach a stage kernel started after this), the loggers are
held at WARNING, and a filter drops any record that still carries request options or a body.
"""
from __future__ import annotations

import logging

from .. import config

SDK_LOG_VARS = ("GROQ_LOG", "OPENAI_LOG")
LOGGERS = ("groq", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "groq._base_client", "openai._base_client")


class _DropBodies(logging.Filter):
    """Refuse DEBUG/INFO records of the SDK and HTTP loggers (request options, bodies, headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_FILTER = _DropBodies()
REMOVED: set[str] = set()   # variables removed in this process (a provider warns about them once)


def neutralise() -> list[str]:
    """Remove the SDK log variables and silence their loggers. Returns the variables removed."""
    removed = [name for name in SDK_LOG_VARS if config.pop_env(name) is not None]
    REMOVED.update(removed)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    return removed
