"""`python -m churn_workbench ...` and the `churn-workbench` console script: the same command
line as `run_pipeline.py` (see `churn-workbench --help`)."""
from __future__ import annotations

import os
import sys


def main() -> None:
    from .cli import main as cli_main
    try:
        code = cli_main(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader is gone, which is not an error. Point
        # stdout at devnull so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
