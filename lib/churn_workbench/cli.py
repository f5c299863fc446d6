"""Command line of run_pipeline.py: argument parsing, input checks, and the final summary.

Every command the command line prints (next steps, resume) works as printed from the project
root: it names the interpreter that is running now (`.venv/bin/python`, not a bare `python`
that may lack the packages) and carries `--db` when one was given.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import dataclasses

from . import audit, db, pipeline
from .config import PROJECT_ROOT, load_settings, select_llm_profile
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


def _error(prog: str, exc: Exception) -> int:
    """One line on stderr; the exit code the error's kind means (2 for usage)."""
    usage = isinstance(exc, _ArgumentError)
    print(f"{prog}: error: {exc}" + (" (see --help)" if usage else ""), file=sys.stderr)
    return 2 if usage else exc.exit_code


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


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    if argv[:1] == ["subject"]:
        return _subject(argv[1:])
    parser = _parser()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM outside a run ends like Ctrl-C: one line, not a silent exit (the runner has its own).
        signal.signal(signal.SIGTERM, _interrupt)
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
    except KeyboardInterrupt as exc:  # before or after a run (during one, the runner handles it)
        name = str(exc) or "SIGINT"
        print(f"run_pipeline.py: interrupted ({'Ctrl-C' if name == 'SIGINT' else name}) outside a pipeline stage; "
              "no run was left unfinished", file=sys.stderr)
        return pipeline.INTERRUPT_EXIT_CODES.get(name, 130)
    except (_ArgumentError, WorkbenchError) as exc:
        return _error("run_pipeline.py", exc)


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
        params, settings, started_stages = _resume_params(args, settings)
        run_id = args.resume
        if not args.stages and started_stages:
            stages = started_stages  # finish what the run set out to do, so the printed hint needs no --stages
    else:
        _check_inputs(args)
        params, run_id = _params(args), args.run_id
        if run_id:
            _refuse_existing_run(settings, run_id, args.db)
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
    if result.status == "interrupted":
        where = f" during the {result.stage} stage" if result.stage else ""
        signame = "Ctrl-C" if result.interrupted_by == "SIGINT" else result.interrupted_by
        print(f"run_pipeline.py: interrupted ({signame}){where}; run {result.run_id} is marked interrupted; "
              f"resume it with: {resume_command(result.run_id, args.db)}", file=sys.stderr)
        return result.exit_code
    _print_summary(settings, result, time.monotonic() - started, args.db)
    if result.status == "succeeded":
        return 0
    return result.exit_code or 1


def command(*words: str, db: str | None = None) -> str:
    """`run_pipeline.py <words>` as a command line that works as printed from the project root."""
    parts = [_python(), "run_pipeline.py", *words] + (["--db", _shown_path(db)] if db else [])
    return " ".join(shlex.quote(p) for p in parts)


def resume_command(run_id: str, db: str | None = None) -> str:
    return command("--resume", run_id, db=db)


def _python() -> str:
    """The interpreter running now, as the shortest name that still means it from the project root."""
    exe = os.path.abspath(sys.executable)  # not resolved: a venv's python is a symlink to the base one
    try:
        return str(Path(exe).relative_to(PROJECT_ROOT))
    except ValueError:
        pass
    for name in ("python", "python3"):
        if shutil.which(name) == exe:
            return name
    return exe


def _shown_path(path: str | Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(absolute)


def _refuse_existing_run(settings, run_id: str, db_arg: str | None = None) -> None:
    if not settings.db_path.exists():
        return
    with db.session(settings.db_path) as con:
        row = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return
    if row[0] == "succeeded":
        raise UsageError(f"--run-id {run_id}: a run with that id already succeeded in {settings.db_path}; "
                         "choose another --run-id (or leave it out for a fresh one)")
    raise UsageError(f"--run-id {run_id}: that run exists already ({row[0]}); finish it with: "
                     f"{resume_command(run_id, db_arg)}")


def _resume_params(args, settings):
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database, nothing to resume")
    with db.session(settings.db_path) as con:
        row = con.execute("SELECT params, status, llm_provider FROM runs WHERE run_id = ?", [args.resume]).fetchone()
    if row is None:
        raise UsageError(f"--resume {args.resume}: no such run in {settings.db_path}")
    if row[1] == "succeeded":
        raise UsageError(f"--resume {args.resume}: that run already succeeded; nothing to resume")
    params = json.loads(row[0])
    if not args.llm and row[2]:
        settings = load_settings(db_path=str(settings.db_path), llm_provider=row[2])
    with db.session(settings.db_path) as con:
        started = con.execute("SELECT details FROM audit_log WHERE run_id = ? AND event_type = 'run_started' "
                              "ORDER BY seq LIMIT 1", [args.resume]).fetchone()
    stages = [s for s in (json.loads(started[0]).get("stages") or []) if s in STAGES] if started else []
    return params, settings, stages


def _counts(reasons: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {reason}" for reason, n in reasons.items())


def _print_summary(settings, result: pipeline.RunResult, elapsed: float, db_arg: str | None = None) -> None:
    s = pipeline.run_summary(settings, result.run_id)
    print()
    print(f"Run {result.run_id}: {result.status.upper()} in {elapsed:.1f}s")
    if result.error:
        print(f"  error:    {result.error}")
    ingest = s["ingest"]
    if ingest:
        labelled = ingest.get("labelled")
        print(f"  input:    {ingest.get('customers', 0):,} customers" + (f" ({labelled:,} labelled)" if labelled is not None else "")
              + f", {ingest.get('consent_records', 0):,} consent records")
        orphans = ingest.get("feedback_orphans_dropped") or 0
        if ingest.get("feedback") or orphans:
            print(f"  feedback: {ingest.get('feedback', 0):,} items" + (
                f"; {orphans:,} skipped: their customer id is not in the customers file" if orphans else ""))
        else:
            print("  feedback: none (no feedback file, or no usable rows): the model uses customer columns only")
    print(f"  customers in store: {s['customers']:,}   scored this run: {s['scored']:,}")
    if s["predicted"]:
        if s["not_scored"]:
            print(f"  not scored: {_counts(s['not_scored'])}")
        if s["scored"] == 0 and s["consent_records"] == 0:
            print("  why none: there are no consent records at all, and no record means no consent: nobody may be "
                  "profiled. Pass --consent FILE (customer_id, purpose, granted) or a consent_given column.")
    if s["segments"]:
        print("  segments: " + ", ".join(f"{k} {v:,}" for k, v in s["segments"].items()))
    if s["actions"]:
        print("  actions:  " + ", ".join(f"{k} {v:,}" for k, v in s["actions"].items()))
    if s["acted"] and s["not_actioned"]:
        print(f"  not actioned: {_counts(s['not_actioned'])}")
    for line in _llm_lines(s["provider"], s["llm"]):
        print(line)
    if s["model"]:
        metrics = json.loads(s["model"][2]) if s["model"][2] else {}
        auc = metrics.get("roc_auc")
        print(f"  model:    {s['model'][1]} sha256 {s['model'][0][:12]}…" + (f"  held-out ROC-AUC {auc:.3f}" if isinstance(auc, (int, float)) else ""))
    if s.get("incremental"):
        print(f"  incremental: {s['incremental']}")
    if s["durations"]:
        print("  stages:   " + ", ".join(f"{stage} {d:.1f}s" for stage, d in s["durations"]))
    print(f"  audit:    {s['audit_events']:,} events; executed notebooks and manifest in {result.run_dir}")
    print(f"  database: {settings.db_path}")
    if result.status == "succeeded":
        dashboard = "make dashboard" + (f" DB={shlex.quote(_shown_path(db_arg))}" if db_arg else "")
        print(f"  next:     {dashboard}  (or: {command('verify', db=db_arg)})")
    else:
        print(f"  resume:   {resume_command(result.run_id, db_arg)}")


def _llm_lines(provider: str, health: list) -> list[str]:
    """LLM health: requests, retries, items the model analysed vs. those that fell back."""
    if provider == "local":
        done = [f"{h.items:,} {'feedback items' if h.stage == 'feedback' else 'actions'}" for h in health if h.items]
        return ["  LLM:      local offline analyzer, nothing sent" + (f" ({' and '.join(done)} handled offline)" if done else "")]
    lines = []
    for h in health:
        noun = "feedback items" if h.stage == "feedback" else "actions"
        line = (f"  LLM:      {h.stage} via {provider}: {h.requests:,} requests, {h.retries:,} retries; "
                f"{h.by_model:,} of {h.model_items:,} {noun} from the model, {h.fallbacks:,} fell back to the offline analyzer")
        if h.fallbacks:
            line += f" ({h.reason_text()})"
        if h.policy_fallbacks:
            line += f"; {h.policy_fallbacks:,} replaced by the catalogue (policy)"
        if h.blocked:
            line += f"; {h.blocked:,} kept home by the PII gate"
        offline = h.items - h.model_items - h.blocked
        if offline:
            line += f"; {offline:,} analysed offline (no external_llm consent)"
        lines.append(line)
    return lines


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
    except (_ArgumentError, WorkbenchError) as exc:
        return _error("run_pipeline.py subject", exc)
