"""`python -m churn_workbench ...`, the `churn-workbench` console script and `run_pipeline.py`:
one entry to the command line (see `churn-workbench --help`).

Loading the command line takes about a second (pandas, DuckDB). A Ctrl-C or SIGTERM in that
second used to escape as a traceback, or, landing inside a compiled module's initialisation, as
an `ImportError` with exit 1 (the code of a failed stage). The entry notes such a signal from
its first line, and any exception a signal caused while the command line still loads what it needs
(it imports lazily) ends as an interruption: one line, exit 130 (143 for SIGTERM).
"""
from __future__ import annotations

import os
import signal
import sys

_EXIT = {"SIGINT": 130, "SIGTERM": 143}   # errors.INTERRUPT_EXIT_CODES, not imported yet


def _interruption(exc: BaseException) -> str | None:
    """The signal behind `exc`: a KeyboardInterrupt itself, or one in its chain of causes. A signal
    landing inside a compiled module's initialisation (DuckDB, NumPy) surfaces as that module's
    `ImportError: initialization failed`, caused by the KeyboardInterrupt; the command line
    imports such modules lazily, so this can happen at any of its first steps."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return str(exc) or "SIGINT"
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _interrupted(name: str) -> int:
    print(f"{os.path.basename(sys.argv[0]) or 'churn-workbench'}: interrupted "
          f"({'Ctrl-C' if name == 'SIGINT' else name}) while loading; nothing was run", file=sys.stderr)
    return _EXIT.get(name, 130)


def main() -> None:
    def note(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        from .cli import main as cli_main
    except BaseException as exc:
        name = _interruption(exc)
        if name is None:
            raise
        sys.exit(_interrupted(name))
    for sig, handler in previous.items():  # the command line installs its own
        signal.signal(sig, handler)
    try:
        code = cli_main(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader is gone, which is not an error. Point
        # stdout at devnull so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except BaseException as exc:  # what the command line's own handling did not end: a signal in a lazy import
        name = _interruption(exc)
        if name is None or isinstance(exc, SystemExit):
            raise
        code = _interrupted(name)
    sys.exit(code)


if __name__ == "__main__":
    main()
