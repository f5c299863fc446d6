"""Command line of run_pipeline.py: argument parsing, input checks, and the final summary."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import dataclasses

from . import audit, db, pipeline
from .config import load_settings, select_llm_profile
from .errors import ConfigurationError, InputError, UsageError, WorkbenchError
from .llm import PROVIDERS
from .llm.profiles import PROFILES as LLM_PROFILES
from .stages.params import PARAMS
from .vocab import STAGES

# Stage parameters with a flag of their own; every other declared stage parameter gets
# a flag derived from its name (max_train_rows -> --max-train-rows).
_OWN_FLAGS = {"db_path", "run_id", "llm_provider", "synthetic_n", "seed", "customers_path", "feedback_path",
              "consent_path", "data_config_path"}


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 by itself; raise so main() prints one clear line
        raise _ArgumentError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="run_pipeline.py", description="Run the churn workbench stages with papermill. "
                "Data-subject rights: run_pipeline.py subject {export,forget,lift,purge} --help")
    p.add_argument("command", nargs="?", choices=["run", "verify"], default="run")
    p.add_argument("--synthetic", type=int, default=None, metavar="N", help="generate N synthetic customers (default 1000)")
    p.add_argument("--seed", type=int, default=42, help="seed for synthetic data, model training and the control group")
    p.add_argument("--customers", help="customers file (CSV or Parquet)")
    p.add_argument("--feedback", help="feedback file (CSV or Parquet)")
    p.add_argument("--consent", help="consent register (CSV or Parquet)")
    p.add_argument("--data-config", help="TOML mapping of your column names")
    p.add_argument("--llm", choices=sorted(PROVIDERS), help="LLM backend (default: local, or WORKBENCH_LLM)")
    p.add_argument("--llm-profile", choices=sorted(LLM_PROFILES), help="preset of LLM settings, e.g. local-cpu "
                   "for a CPU llama.cpp/Ollama server (or WORKBENCH_LLM_PROFILE)")
    p.add_argument("--db", help="DuckDB file (default data/workbench.duckdb, or WORKBENCH_DB)")
    p.add_argument("--run-id", help="id for this run (default: timestamp + random suffix)")
    p.add_argument("--stages", help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run, skipping its completed stages")
    p.add_argument("--wait", action="store_true", help="wait for another running pipeline instead of refusing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--outcomes", metavar="FILE", help="observed churn after a run's actions (customer_id, churned, "
                   "observed_at; CSV or Parquet): attach it and print the effect report")
    p.add_argument("--outcomes-for", metavar="RUN_ID", help="the run --outcomes belong to (default: the newest run "
                   "whose actions precede them)")
    p.add_argument("--simulate-outcomes", metavar="RUN_ID", help="synthetic outcomes for a run on synthetic data "
                   "(a demo of the loop), attached like --outcomes")
    p.add_argument("--heads", metavar="FILE", help="verify: also prove every signed head exported to FILE is still in the chain")
    p.add_argument("--json", action="store_true", help="verify: print the result as JSON")
    for name, (stage, default) in _derived_parameters().items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=None, dest=name,
                       help=f"{stage} stage parameter (default {default})")
    return p


def _derived_parameters() -> dict[str, tuple[str, object]]:
    out = {}
    for stage, cls in PARAMS.items():
        for f in dataclasses.fields(cls):
            if f.name not in _OWN_FLAGS:
                out.setdefault(f.name, (stage, f.default))
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["subject"]:
        return _subject(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        select_llm_profile(args.llm_profile)  # before any settings: the stage kernels inherit it
        settings = load_settings(db_path=args.db, llm_provider=args.llm)
        if args.command == "verify":
            return _verify(settings, args.heads, args.json)
        if args.outcomes or args.outcomes_for or args.simulate_outcomes:
            from . import outcomes
            return outcomes.command(settings, args.outcomes, args.outcomes_for, args.simulate_outcomes, args.seed)
        return _run(args, settings)
    except _ArgumentError as exc:
        print(f"run_pipeline.py: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except WorkbenchError as exc:
        print(f"run_pipeline.py: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _verify(settings, heads: str | None = None, as_json: bool = False) -> int:
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet (run the pipeline first)")
    if heads and not Path(heads).is_file():
        raise UsageError(f"{heads}: --heads file does not exist")
    result = audit.verify(settings.db_path, settings.audit_dir, heads)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result)
        for problem in result.problems[1:]:
            print(f"  - also: {problem}")
        for note in result.notes:
            print(f"  note: {note}")
    return 0 if result.ok else 1


def _check_inputs(args) -> None:
    for flag, value in (("--customers", args.customers), ("--feedback", args.feedback),
                        ("--consent", args.consent), ("--data-config", args.data_config)):
        if value and not Path(value).is_file():
            raise UsageError(f"{value}: {flag} file does not exist")
    if (args.feedback or args.consent or args.data_config) and not args.customers:
        raise UsageError("--feedback, --consent and --data-config need --customers")
    if args.customers and args.synthetic is not None:
        raise UsageError("use either --synthetic or --customers, not both")
    if args.synthetic is not None and args.synthetic < 1:
        raise UsageError("--synthetic needs a positive number of customers")
    if args.customers:
        # Validate the files before a run is recorded: bad input leaves the database untouched.
        from .stages.ingest import load_inputs
        p = _params(args)
        try:
            load_inputs(0, 0, p["customers_path"], p["feedback_path"], p["consent_path"], p["data_config_path"])
        except InputError as exc:
            raise UsageError(str(exc)) from None


def _params(args) -> dict:
    absolute = lambda v: str(Path(v).resolve()) if v else ""
    derived = {name: getattr(args, name) for name in _derived_parameters() if getattr(args, name) is not None}
    return {"synthetic_n": args.synthetic or 1000, "seed": args.seed, "customers_path": absolute(args.customers),
            "feedback_path": absolute(args.feedback), "consent_path": absolute(args.consent),
            "data_config_path": absolute(args.data_config), **derived}


def _run(args, settings) -> int:
    stages = list(STAGES)
    if args.stages:
        stages = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise UsageError(f"--stages: unknown stage(s) {', '.join(unknown)}; choose from {','.join(STAGES)}")
    if args.resume:
        params, settings = _resume_params(args, settings)
        run_id = args.resume
    else:
        _check_inputs(args)
        params, run_id = _params(args), args.run_id
        if run_id:
            _refuse_existing_run(settings, run_id)
    # A backend that is not configured (missing key or URL) is a usage error, found before any stage runs.
    from .llm import get_provider
    try:
        get_provider(settings.llm_provider, settings)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    # Fail fast, before any run is recorded, if another process holds the database file.
    if settings.db_path.exists():
        db.connect(settings.db_path, wait_s=0).close()
    started = time.monotonic()
    result = pipeline.run(settings, params, stages, run_id=run_id, resume=bool(args.resume), wait=args.wait,
                          progress=not args.quiet)
    _print_summary(settings, result, time.monotonic() - started)
    if result.status == "succeeded":
        return 0
    return result.exit_code or 1


def _refuse_existing_run(settings, run_id: str) -> None:
    if not settings.db_path.exists():
        return
    with db.session(settings.db_path) as con:
        if con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]:
            raise UsageError(f"--run-id {run_id}: that run exists already; use --resume {run_id} to finish it")


def _resume_params(args, settings):
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database, nothing to resume")
    with db.session(settings.db_path) as con:
        row = con.execute("SELECT params, status, llm_provider FROM runs WHERE run_id = ?", [args.resume]).fetchone()
    if row is None:
        raise UsageError(f"--resume {args.resume}: no such run in {settings.db_path}")
    if row[1] == "succeeded":
        raise UsageError(f"--resume {args.resume}: that run already succeeded")
    params = json.loads(row[0])
    if not args.llm and row[2]:
        settings = load_settings(db_path=str(settings.db_path), llm_provider=row[2])
    return params, settings


def _print_summary(settings, result: pipeline.RunResult, elapsed: float) -> None:
    s = pipeline.run_summary(settings, result.run_id)
    print()
    print(f"Run {result.run_id}: {result.status.upper()} in {elapsed:.1f}s")
    if result.error:
        print(f"  error: {result.error}")
    print(f"  customers in store: {s['customers']:,}   scored this run: {s['scored']:,}")
    if s["segments"]:
        print("  segments: " + ", ".join(f"{k} {v:,}" for k, v in s["segments"].items()))
    if s["actions"]:
        print("  actions:  " + ", ".join(f"{k} {v:,}" for k, v in s["actions"].items()))
    if s["model"]:
        metrics = json.loads(s["model"][2]) if s["model"][2] else {}
        auc = metrics.get("roc_auc")
        print(f"  model:    {s['model'][1]} sha256 {s['model'][0][:12]}…" + (f"  held-out ROC-AUC {auc:.3f}" if isinstance(auc, (int, float)) else ""))
    if s["durations"]:
        print("  stages:   " + ", ".join(f"{stage} {d:.1f}s" for stage, d in s["durations"]))
    print(f"  audit:    {s['audit_events']:,} events; executed notebooks and manifest in {result.run_dir}")
    print(f"  database: {settings.db_path}")
    if result.status == "succeeded":
        print("  next:     make dashboard  (or: python run_pipeline.py verify)")
    else:
        print(f"  resume:   python run_pipeline.py --resume {result.run_id}" + (f" --db {settings.db_path}" if settings.db_path else ""))


def _subject_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="run_pipeline.py subject", description="Data-subject rights: access, erasure, retention "
                "(README: data-protection officer's guide).")
    sub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    export = sub.add_parser("export", help="everything held about one customer, as JSON + a Markdown report")
    export.add_argument("--customer", required=True, metavar="ID")
    export.add_argument("--out", metavar="FILE", help="JSON file to write (the report goes beside it, .md)")
    forget = sub.add_parser("forget", help="erase one customer; later imports of the id are stripped")
    forget.add_argument("--customer", required=True, metavar="ID")
    lift = sub.add_parser("lift", help="lift an erased customer's tombstone: later imports take them in again")
    lift.add_argument("--customer", required=True, metavar="ID")
    purge = sub.add_parser("purge", help="remove feedback text, analyses and LLM payloads past retention")
    purge.add_argument("--older-than", type=int, metavar="DAYS",
                       help="one period for all (default: the WORKBENCH_RETENTION_* settings)")
    for action in (export, forget, lift, purge):
        action.add_argument("--db", help="DuckDB file (default data/workbench.duckdb, or WORKBENCH_DB)")
    return p


def _subject(argv: list[str]) -> int:
    """`run_pipeline.py subject ...`: parse, dispatch to churn_workbench.subjects, print one summary."""
    from . import subjects
    try:
        args = _subject_parser().parse_args(argv)
        settings = load_settings(db_path=args.db)
        if args.action == "export":
            json_path, md_path = subjects.export_subject(settings, args.customer, args.out)
            print(f"export written: {json_path} and {md_path} (hand them over, then delete them)")
        elif args.action == "forget":
            done = subjects.forget(settings, args.customer)
            rows = ", ".join(f"{t} {n}" for t, n in done["removed_rows"].items() if n) or "none"
            print(f"customer {args.customer} erased: rows removed: {rows}; LLM requests redacted: "
                  f"{done['egress_redacted']}; pseudonym shredded; tombstone set (later imports strip the id)")
        elif args.action == "lift":
            subjects.lift(settings, args.customer)
            print(f"tombstone of customer {args.customer} lifted: the next import takes the id in again")
        else:
            done = subjects.purge(settings, args.older_than)
            print("purged: " + ", ".join(f"{k} {n} (before {done['cutoffs'][k]})" for k, n in done["purged"].items()))
        return 0
    except _ArgumentError as exc:
        print(f"run_pipeline.py subject: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except WorkbenchError as exc:
        print(f"run_pipeline.py subject: error: {exc}", file=sys.stderr)
        return exc.exit_code
