"""The workbench from Python -- a notebook or a script -- with the command line's behaviour.

    import churn_workbench as wb

    result = wb.run(synthetic=2000, seed=7)          # = churn-workbench --synthetic 2000 --seed 7
    result.ok, result.run_id, result.summary         # the terminal summary as a dict; print(result) as text
    result.predictions()                             # this run's rows of a store table, as a DataFrame
    wb.table("audit_log", run_id=result.run_id)      # any table of the store
    wb.list_runs()                                   # every run, newest first
    wb.compare_runs()                                # the two newest runs side by side (compare.Comparison)
    wb.verify()                                      # the audit chain and artefacts (verification.VerifyResult)

Every function takes `db=` (default: WORKBENCH_DB or data/workbench.duckdb). Bad input raises
`churn_workbench.errors.UsageError` (the command line's exit code 2) before anything is written;
a failed stage does not raise: `result.ok` is False and `result.error` says why. Reads use a
short read-only connection, so they fail (DatabaseLocked) while a pipeline run holds the store.
"""
from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["RunResult", "run", "table", "tables", "list_runs", "compare_runs", "verify"]


@dataclass
class RunResult:
    """What one pipeline run did. `summary` holds what the terminal summary shows (run_report.py),
    `text` the summary exactly as the command line prints it."""
    run_id: str
    status: str                   # succeeded, failed or interrupted
    exit_code: int                # the command line's: 0, 1 (a stage failed), 130/143 (interrupted)
    error: str | None
    failed_stage: str | None
    db_path: Path
    run_dir: Path | None
    duration_s: float
    stages: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def table(self, name: str) -> pd.DataFrame:
        """This run's rows of a store table (predictions, actions, feedback_analysis, llm_egress, ...)."""
        return table(name, run_id=self.run_id, db=self.db_path)

    def predictions(self) -> pd.DataFrame:
        return self.table("predictions")

    def actions(self) -> pd.DataFrame:
        return self.table("actions")

    def __str__(self) -> str:
        return self.text or f"Run {self.run_id}: {self.status.upper()}"

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython / JupyterLab show the summary
        printer.text(str(self))


def _settings(db: str | Path | None = None, llm: str | None = None):
    from .config import load_settings
    return load_settings(db_path=str(db) if db else None, llm_provider=llm)


def _argv(synthetic, customers, feedback, consent, data_config, db, llm, llm_profile, stages, run_id, resume, seed,
          wait, progress, stage_parameters: dict) -> list[str]:
    """The command line these arguments mean, so the API and the CLI share one path (cli.start)."""
    from .cli import _derived_parameters
    known = _derived_parameters()
    unknown = sorted(set(stage_parameters) - set(known))
    if unknown:
        raise TypeError(f"run() got unknown argument(s) {', '.join(unknown)}; stage parameters: {', '.join(sorted(known))}")
    argv: list[str] = []
    values = {"--synthetic": synthetic, "--customers": customers, "--feedback": feedback, "--consent": consent,
              "--data-config": data_config, "--db": db, "--llm": llm, "--llm-profile": llm_profile,
              "--stages": ",".join(stages) if isinstance(stages, (list, tuple)) else stages, "--run-id": run_id,
              "--resume": resume, "--seed": seed,
              **{"--" + name.replace("_", "-"): value for name, value in stage_parameters.items()}}
    for flag, value in values.items():
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--wait"] if wait else []) + ([] if progress else ["--quiet"])


def run(*, synthetic: int | None = None, customers: str | Path | None = None, feedback: str | Path | None = None,
        consent: str | Path | None = None, data_config: str | Path | None = None, db: str | Path | None = None,
        llm: str | None = None, llm_profile: str | None = None, stages: str | list[str] | None = None,
        run_id: str | None = None, resume: str | None = None, seed: int | None = None, wait: bool = False,
        progress: bool = True, **stage_parameters) -> RunResult:
    """Run the pipeline, as `churn-workbench` with the same-named options would.

    synthetic: N synthetic customers (default 1000 when no `customers` file is given);
    customers/feedback/consent/data_config: input files (CSV or Parquet; TOML for the data config);
    stages: a subset of ingest, feedback, train, predict, act; resume: finish an interrupted run;
    progress: the live progress line (in a notebook, an output updated in place);
    seed: for synthetic data, model training and the control group (default 42);
    stage_parameters: action_segments="High,Medium,Low", control_share=0.5, max_train_rows, allow_columns.
    An argument the run would not use (`max_train_rows` with stages="ingest") is refused, as on
    the command line.
    Lines about each stage are printed as the run goes; the summary is in the result.
    """
    from . import cli
    from .config import select_llm_profile
    from .errors import UsageError
    argv = _argv(synthetic, customers, feedback, consent, data_config, db, llm, llm_profile, stages, run_id,
                 resume, seed, wait, progress, stage_parameters)
    parser = cli._parser()
    try:
        args = parser.parse_args(argv)
    except cli._ArgumentError as exc:
        raise UsageError(str(exc)) from None
    cli._refuse_options_without_effect(parser, args)
    select_llm_profile(args.llm_profile)
    settings = _settings(args.db, args.llm)
    started = time.monotonic()
    outcome = cli.start(args, settings)
    elapsed = time.monotonic() - started
    from . import run_report
    summary = run_report.summary(settings.db_path, outcome.run_id) if settings.db_path.exists() else {}
    text = io.StringIO()
    if outcome.status != "interrupted":
        with contextlib.redirect_stdout(text):
            cli._print_summary(settings, outcome, elapsed, args.db)
    return RunResult(run_id=outcome.run_id, status=outcome.status, exit_code=outcome.exit_code, error=outcome.error,
                     failed_stage=outcome.stage, db_path=settings.db_path, run_dir=outcome.run_dir, duration_s=elapsed,
                     stages=[{"stage": s.stage, "status": s.status, "duration_s": s.duration_s, "notebook": s.notebook,
                              "error": s.error} for s in outcome.stages],
                     summary=summary, text=text.getvalue().strip("\n"))


@contextlib.contextmanager
def _reading(db: str | Path | None):
    from . import db as store
    from .errors import UsageError
    settings = _settings(db)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet (run the pipeline first)")
    con = store.connect(settings.db_path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def tables(db: str | Path | None = None) -> list[str]:
    """The store's tables, by name."""
    with _reading(db) as con:
        return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = 'main' ORDER BY 1").fetchall()]


def table(name: str, run_id: str | None = None, db: str | Path | None = None) -> pd.DataFrame:
    """A table of the store as a DataFrame; with `run_id`, only that run's rows (tables with a run_id)."""
    from . import db as store
    from .errors import UsageError
    with _reading(db) as con:
        columns = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                             "'main' AND table_name = ? ORDER BY ordinal_position", [name]).fetchall()]
        if not columns:
            names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                               "'main' ORDER BY 1").fetchall()]
            raise UsageError(f"no table {name!r} in the store; tables: {', '.join(names)}")
        if run_id is None:
            return con.execute(f"SELECT * FROM {store.ident(name)}").df()
        if "run_id" not in columns:
            raise UsageError(f"table {name!r} has no run_id column: read it without run_id")
        return con.execute(f"SELECT * FROM {store.ident(name)} WHERE run_id = ?", [run_id]).df()


def list_runs(db: str | Path | None = None) -> pd.DataFrame:
    """Every run, newest first: status, start, duration in seconds, LLM backend, error."""
    with _reading(db) as con:
        return con.execute("""SELECT run_id, status, started_at, finished_at,
                                     date_diff('millisecond', started_at, finished_at) / 1000.0 AS duration_s,
                                     llm_provider, error FROM runs ORDER BY started_at DESC NULLS LAST""").df()


def compare_runs(a: str | None = None, b: str | None = None, db: str | Path | None = None):
    """Run `a` against run `b` (default: the two newest succeeded runs); see compare.Comparison."""
    from . import compare
    return compare.runs(_settings(db).db_path, a, b)


def verify(db: str | Path | None = None, heads: str | Path | None = None):
    """The audit chain, manifests, artefacts and row digests (and the exported heads, if given):
    a verification.VerifyResult whose `ok` is True only if everything checks."""
    from . import verification
    from .errors import UsageError
    from .workspace import Workspace
    settings = _settings(db)
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet (run the pipeline first)")
    return verification.verify(Workspace(settings), heads)
