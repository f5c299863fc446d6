"""After Ctrl-C or SIGTERM the runner prints one line: whatever the notebook machinery then says
about the stage kernel being stopped (papermill's "Kernel died", asyncio's unretrieved task of the
cut-off cell) stays quiet, whichever side of the race it lands on; before a stop it is heard."""
from __future__ import annotations

import logging
import signal

import pytest

from churn_workbench import pipeline

NAMES = ("papermill", "asyncio", "nbclient.client", "traitlets")


@pytest.fixture
def loggers():
    """The machinery's loggers writing to a list; their state restored afterwards."""
    heard: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record):
            heard.append(f"{record.name}: {record.getMessage()}")

    catch = Catch()
    saved = {}
    for name in NAMES:
        log = logging.getLogger(name)
        saved[name] = (log.disabled, log.propagate)
        log.addHandler(catch)
        log.propagate = False
    yield heard
    for name, (disabled, propagate) in saved.items():
        log = logging.getLogger(name)
        log.removeHandler(catch)
        log.disabled, log.propagate = disabled, propagate


def _speak():
    for name in NAMES:
        logging.getLogger(name).error("Kernel died while waiting for execute reply.")


def test_the_machinery_is_heard_until_a_stop_is_asked(loggers):
    pipeline._StopSignals()  # a run that was not stopped
    _speak()
    assert len(loggers) == len(NAMES)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_after_a_stop_the_machinery_says_nothing(loggers, signum):
    stop = pipeline._StopSignals()
    stop._handle(signum, None)  # between stages: recorded, nothing raised
    assert stop.signal == signal.Signals(signum).name
    _speak()
    assert loggers == []
