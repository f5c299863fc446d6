"""Churn workbench: churn prediction, feedback analysis and retention actions under enforced data governance.

The Python API (api.py) is available from the package itself -- `churn_workbench.run(...)`,
`table`, `tables`, `list_runs`, `compare_runs`, `verify`, `RunResult` -- and imported on first use, so
`import churn_workbench` stays light (the stage kernels and the command line import it too).
"""
__version__ = "0.1.0"

_API = ("RunResult", "run", "table", "tables", "list_runs", "compare_runs", "verify")


def __getattr__(name: str):
    # PEP 562: `churn_workbench.run` loads api.py (pandas, DuckDB) only when it is asked for. No API
    # name is also a submodule's (an imported submodule would shadow it: compare.py vs compare_runs).
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
