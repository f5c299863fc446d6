"""`python -m churn_workbench ...` and the `churn-workbench` console script: the same command
line as `run_pipeline.py` (see `churn-workbench --help`)."""
from __future__ import annotations

import sys


def main() -> None:
    from .cli import main as cli_main
    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
