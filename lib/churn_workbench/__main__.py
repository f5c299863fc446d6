"""`python -m churn_workbench ...`, the `churn-workbench` console script and `run_pipeline.py`:
one entry to the command line (see `churn-workbench --help`).

Loading the command line takes about a second (pandas, DuckDB). A Ctrl-C or SIGTERM in that
second used to escape as a traceback, or, landing inside a compiled module's initialisation, as
an `ImportError` with exit 1 (the code of a failed stage). The entry notes such a signal from
its first line, so whatever the load then raises ends as the command line's own interruption:
one line, exit 130 (143 for SIGTERM).
"""
from __future__ import annotations

import os
import signal
import sys

_EXIT = {"SIGINT": 130, "SIGTERM": 143}   # errors.INTERRUPT_EXIT_CODES, not imported yet


def main() -> None:
    received: list[str] = []

    def note(signum, frame):
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt(received[-1])

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        from .cli import main as cli_main
        from .cli_help import prog
    except BaseException:
        if not received:
            raise
        name = received[0]
        print(f"{os.path.basename(sys.argv[0]) or 'churn-workbench'}: interrupted "
              f"({'Ctrl-C' if name == 'SIGINT' else name}) while starting; nothing was run", file=sys.stderr)
        sys.exit(_EXIT[name])
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
    except KeyboardInterrupt as exc:  # between the load and the command line's own handling
        name = str(exc) or "SIGINT"
        print(f"{prog()}: interrupted ({'Ctrl-C' if name == 'SIGINT' else name}) while starting; nothing was run",
              file=sys.stderr)
        code = _EXIT.get(name, 130)
    sys.exit(code)


if __name__ == "__main__":
    main()
