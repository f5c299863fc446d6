#!/usr/bin/env python
"""Run the churn workbench pipeline headless.

    python run_pipeline.py                         # 1,000 synthetic customers, offline analyzer
    python run_pipeline.py --synthetic 100000 --seed 7
    python run_pipeline.py --customers c.csv [--feedback f.csv] [--consent k.csv] [--data-config m.toml]
    python run_pipeline.py --llm groq              # GROQ_API_KEY from the environment or .env
    python run_pipeline.py --db PATH --run-id ID --stages a,b --resume RUN_ID
    python run_pipeline.py verify [--db PATH]      # exit 0 only if audit chain + artefacts verify

Exit codes: 0 success, 1 a stage failed, 2 bad input or usage.
"""
from __future__ import annotations

# The package's entry first, alone: it notes a Ctrl-C from its first line, while the rest loads.
from churn_workbench.__main__ import main

if __name__ == "__main__":
    main()
