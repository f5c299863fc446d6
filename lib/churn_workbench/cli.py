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
from typing import TYPE_CHECKING

import dataclasses

# Only light modules at import time: `--help` and every usage error answer before the heavy stack
# (pandas, DuckDB, papermill, scikit-learn, the PII engine) is imported; each command imports what
# it needs once its arguments are known to be good.
from . import cli_help
from .cli_parser import Parser as _Parser
from .cli_parser import _ArgumentError
from .boundary.name_lists import comma_names
from .boundary.numbers import FLOAT_OPTION, INT_OPTION
from .boundary.run_ids import check_run_id
from .errors import INTERRUPT_EXIT_CODES, ConfigurationError, InputError, UsageError, WorkbenchError
from .stages.params import PARAMS, for_stage
from .vocab import LLM_BACKENDS, LLM_PROFILES, SEGMENTS, STAGES

if TYPE_CHECKING:
    from .pipeline import RunResult
    from .workspace import Workspace

# Stage parameters with a flag of their own; every other declared stage parameter gets
# a flag derived from its name (max_train_rows -> --max-train-rows).
_OWN_FLAGS = {"db_path": "--db", "run_id": "--run-id", "llm_provider": "--llm", "synthetic_n": "--synthetic",
              "seed": "--seed", "customers_path": "--customers", "feedback_path": "--feedback",
              "consent_path": "--consent", "data_config_path": "--data-config"}


def _flag(name: str) -> str:
    """The command-line flag of a stage parameter."""
    return _OWN_FLAGS.get(name) or "--" + name.replace("_", "-")


def _error(prog: str, exc: Exception) -> int:
    """One line on stderr; the exit code the error's kind means (2 for usage)."""
    usage = isinstance(exc, _ArgumentError)
    print(f"{prog}: error: {exc}" + (" (see --help)" if usage else ""), file=sys.stderr)
    return 2 if usage else exc.exit_code


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=cli_help.prog(), description=cli_help.DESCRIPTION, epilog=cli_help.epilog(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=["run", "verify"], default="run",
                   help="run (default) or verify; see the commands below")
    p.add_argument("--synthetic", type=INT_OPTION, default=None, metavar="N", help="generate N synthetic customers (default 1000)")
    p.add_argument("--seed", type=INT_OPTION, default=42, help="seed for synthetic data, model training and the control group")
    p.add_argument("--customers", help="customers file (CSV or Parquet)")
    p.add_argument("--feedback", help="feedback file (CSV or Parquet)")
    p.add_argument("--consent", help="consent register (CSV or Parquet)")
    p.add_argument("--data-config", help="TOML mapping of your column names")
    p.add_argument("--llm", choices=sorted(LLM_BACKENDS), help="LLM backend (default: local, or WORKBENCH_LLM)")
    p.add_argument("--llm-profile", choices=sorted(LLM_PROFILES), help="preset of LLM settings, e.g. local-cpu "
                   "for a CPU llama.cpp/Ollama server, with --llm groq or openai (or WORKBENCH_LLM_PROFILE)")
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
        kind = {int: INT_OPTION, float: FLOAT_OPTION}.get(type(default), type(default))
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None, dest=name,
                       help=cli_help.parameter_help(name, stage, default))
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
    """The command line; an OSError that escaped every command's own checks (a path the
    operating system refuses) ends in one line, never a traceback: exit 2 when it names a path
    given on the command line (or one below or above it), else 1."""
    from .boundary.paths import private_by_default
    private_by_default()  # before any command writes: its files, and its children's, are private
    try:
        return _command(argv)
    except OSError as exc:
        if exc.filename is None:
            raise
        from .boundary.paths import os_error_line
        print(f"{cli_help.prog()}: error: {os_error_line(exc)}", file=sys.stderr)
        return 2 if _names_a_given_path(exc.filename, argv) else 1


def _names_a_given_path(filename, argv: list[str]) -> bool:
    """`filename` is one of the command line's values, a path below one or a folder above one."""
    try:
        target = Path(os.path.abspath(os.fsdecode(filename)))
    except (TypeError, ValueError):
        return False
    for word in argv:
        value = word.split("=", 1)[1] if word.startswith("--") and "=" in word else word
        if not value or value.startswith("-"):
            continue
        given = Path(os.path.abspath(os.path.expanduser(value)))
        if target == given or target.is_relative_to(given) or given.is_relative_to(target):
            return True
    return False


def _command(argv: list[str]) -> int:
    if argv[:1] == ["subject"]:
        return _subject(argv[1:])
    if argv[:1] == ["dashboard"]:
        from .dashboard import serve
        return serve.main(argv[1:], prog=f"{cli_help.prog()} dashboard")
    if argv[:1] == ["compare"]:
        return _compare(argv[1:])
    if argv[:1] == ["settings"]:
        return _settings(argv[1:])
    parser = _parser()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM outside a run ends like Ctrl-C: one line, not a silent exit (the runner has its own).
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        args = parser.parse_args(argv)  # an unknown option is named by _Parser, with the one meant
        _refuse_options_without_effect(parser, args)
        from .boundary.paths import user_path
        for flag, value in (("--heads", args.heads), ("--outcomes", args.outcomes)):
            if value:
                user_path(value, flag)  # control characters, a name the OS refuses
        if args.command == "verify" and args.heads and not Path(args.heads).is_file():
            raise UsageError(f"{args.heads}: --heads file does not exist")
        if args.command == "run" and not (args.outcomes or args.outcomes_for or args.simulate_outcomes):
            checked = _checked(args)   # usage errors answer before the heavy stack is imported
        from .config import load_settings, select_llm_profile
        select_llm_profile(args.llm_profile)  # before any settings: the stage kernels inherit it
        settings = load_settings(db_path=args.db, llm_provider=args.llm)
        _owned(settings)
        if args.command == "verify":
            return _verify(settings, args.heads, args.json)
        if args.outcomes or args.outcomes_for or args.simulate_outcomes:
            from . import outcomes
            for flag, value in (("--outcomes-for", args.outcomes_for), ("--simulate-outcomes", args.simulate_outcomes)):
                if value is not None:
                    check_run_id(value, flag)
            return outcomes.command(settings, args.outcomes, args.outcomes_for, args.simulate_outcomes, args.seed)
        return _run(args, settings, checked)
    except KeyboardInterrupt as exc:  # before or after a run (during one, the runner handles it)
        name = str(exc) or "SIGINT"
        print(f"{cli_help.prog()}: interrupted ({'Ctrl-C' if name == 'SIGINT' else name}) outside a pipeline stage; "
              "no run was left unfinished", file=sys.stderr)
        return INTERRUPT_EXIT_CODES.get(name, 130)
    except (_ArgumentError, WorkbenchError) as exc:
        return _error(cli_help.prog(), exc)


def _owned(settings) -> None:
    """Before a command touches anything: its configured folders belong to its database."""
    from .workspace import Workspace
    Workspace(settings).check_owner()


def _refuse_options_without_effect(parser: argparse.ArgumentParser, args) -> None:
    """An option the chosen mode does not read is refused, not silently ignored (a `--json` on a
    run, a `--synthetic` on verify, a `--seed` with --outcomes): the one table is cli_modes's."""
    from . import cli_modes
    cli_modes.check(parser.given(), args, option_flags(parser), option_table())


def option_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's dest -> its flag, as messages name it."""
    return {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}


def option_table() -> dict:
    """cli_modes' table for this parser: the stage parameters whose flag is not their own name."""
    from . import cli_modes
    renamed = {name: flag[2:].replace("-", "_") for name, flag in _OWN_FLAGS.items() if name not in ("db_path", "run_id")}
    return cli_modes.table(renamed)


def _verify(settings, heads: str | None = None, as_json: bool = False) -> int:
    if not settings.db_path.exists():
        raise UsageError(f"{settings.db_path}: no database yet (run the pipeline first)")
    if heads and not Path(heads).is_file():
        raise UsageError(f"{heads}: --heads file does not exist")
    from . import verification
    from .workspace import Workspace
    result = verification.verify(Workspace(settings), heads)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result)
        for problem in result.problems[1:]:
            print(f"  - also: {problem}")
        for note in result.notes:
            print(f"  note: {note}")
    return 0 if result.ok else 1


def _check_inputs(args, params: dict) -> None:
    """The input files' contents (their names and every parameter were checked before)."""
    if args.customers and args.synthetic is not None:
        raise UsageError("use either --synthetic or --customers, not both")
    # Validate the files before a run is recorded: bad input leaves the database untouched.
    try:
        for_stage("ingest", params).check_inputs()
    except InputError as exc:
        raise UsageError(str(exc)) from None


def _check_parameters(params: dict, stages: list[str], named=_flag) -> None:
    """Every stage's parameters, before the first stage starts (exit 2, one line naming the flag)."""
    for stage in stages:
        for_stage(stage, params).check(named)


# Stage -> (the table its output lands in, what the database lacks without it).
_PREREQUISITES = {"ingest": ("customer_columns", "no customers yet"), "train": ("model_registry", "no trained model yet"),
                  "predict": ("predictions", "no predictions yet")}
_NEEDS = {"feedback": ("ingest",), "train": ("ingest",), "predict": ("ingest", "train"), "act": ("ingest", "predict")}


def _check_prerequisites(settings, stages: list[str]) -> None:
    """A stage whose inputs come from a stage not in this run needs them in the database already."""
    missing: list[tuple[str, str]] = []
    for stage in stages:
        for needed in _NEEDS.get(stage, ()):
            if needed not in stages and needed not in {m[0] for m in missing}:
                missing.append((needed, stage))
    if not missing:
        return
    from . import db
    found = {}
    if settings.db_path.exists():
        con = db.connect(settings.db_path, read_only=True, wait_s=0)  # a held file: the usual one-line refusal
        try:
            for needed, _ in missing:
                table = _PREREQUISITES[needed][0]
                found[needed] = db.table_exists(con, table) and \
                    con.execute(f"SELECT count(*) FROM {db.ident(table)}").fetchone()[0] > 0
        finally:
            con.close()
    for needed, stage in missing:
        if not found.get(needed):
            order = [s for s in STAGES if s in stages or s == needed]
            raise UsageError(f"--stages {','.join(stages)}: the {stage} stage needs the {needed} stage's output and "
                             f"{settings.db_path} has {_PREREQUISITES[needed][1]}; run it too: --stages {','.join(order)}")


def _check_allow_columns(settings, params: dict, stages: list[str]) -> None:
    """Every option and setting that names a customer column, against the columns the stages
    will see, before the first stage: --allow-columns and WORKBENCH_LEAKAGE_ALLOW (the train stage
    keeps both) by one checker at the same moment, and WORKBENCH_VALUE_COLUMN (read by predict
    and act). The columns are those this run's ingest will import (the customers file read and
    typed now, or a few synthetic customers: the same columns and roles), else those the store's
    last import recorded."""
    from .boundary.data_config import check_allow_columns, check_value_column
    given = [(check_allow_columns, label, value)
             for label, value in (("--allow-columns", params.get("allow_columns")),
                                  ("WORKBENCH_LEAKAGE_ALLOW", settings.leakage_allow)) if value and "train" in stages]
    if settings.value_column.strip() and {"predict", "act"} & set(stages):
        given.append((check_value_column, "WORKBENCH_VALUE_COLUMN", settings.value_column))
    if not given:
        return
    roles, where = _columns_train_will_see(settings, params, stages)
    for check, label, value in given:
        if roles:
            check(value, roles, where, label)


def _columns_train_will_see(settings, params: dict, stages: list[str]) -> tuple[dict[str, str], str]:
    """(column -> role, where they come from); empty when the store has no import yet."""
    from . import db
    if "ingest" in stages:
        from .inputs.load import load_inputs
        small = min(int(params.get("synthetic_n") or 1), 50)  # the generator's columns, not its rows
        table, _, _ = load_inputs(small, params.get("seed", 42), params.get("customers_path") or "", "", "",
                                  params.get("data_config_path") or "")
        return table.roles, params.get("customers_path") or "the synthetic customers"
    if not settings.db_path.exists():
        return {}, ""
    con = db.connect(settings.db_path, read_only=True, wait_s=0)
    try:
        roles = dict(con.execute("SELECT column_name, role FROM customer_columns").fetchall()) \
            if db.table_exists(con, "customer_columns") else {}
    finally:
        con.close()
    return roles, "the customers in the store"


def _params(args) -> dict:
    from .boundary.paths import input_file

    def absolute(value, flag):  # checked as typed: resolving would drop a trailing '/'
        return str(input_file(value, flag)) if value else ""

    derived = {name: getattr(args, name) for name in _derived_parameters() if getattr(args, name) is not None}
    synthetic = 1000 if args.synthetic is None else args.synthetic
    return {"synthetic_n": synthetic, "seed": args.seed, "customers_path": absolute(args.customers, "--customers"),
            "feedback_path": absolute(args.feedback, "--feedback"), "consent_path": absolute(args.consent, "--consent"),
            "data_config_path": absolute(args.data_config, "--data-config"), **derived}


def _run(args, settings, checked=None) -> int:
    started = time.monotonic()
    result = start(args, settings, checked=checked)
    if result.status == "interrupted":
        where = f" during the {result.stage} stage" if result.stage else ""
        signame = "Ctrl-C" if result.interrupted_by == "SIGINT" else result.interrupted_by
        print(f"{cli_help.prog()}: interrupted ({signame}){where}; run {result.run_id} is marked interrupted; "
              f"resume it with: {resume_command(result.run_id, args.db)}", file=sys.stderr)
        return result.exit_code
    _print_summary(settings, result, time.monotonic() - started, args.db)
    if result.status == "succeeded":
        return 0
    return result.exit_code or 1


def _checked(args) -> tuple[list[str], str | None, dict | None]:
    """What needs neither settings nor the database (nor the heavy stack): the stages, the run id
    and every stage parameter, input file names included. Returns (stages, run id, parameters)."""
    stages = list(STAGES)
    if args.stages is not None:
        stages = comma_names(args.stages, "--stages", "stage name")
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise UsageError(f"--stages: unknown stage(s) {', '.join(unknown)}; choose from {','.join(STAGES)}")
        # Each stage reads what the ones before it wrote: given out of order (or twice) they would
        # run on missing or stale data and still report success.
        ordered = [s for s in STAGES if s in stages]
        if stages != ordered:
            raise UsageError(f"--stages {args.stages}: stages run in the pipeline's order ({','.join(STAGES)}), each "
                             f"once; give --stages {','.join(ordered)}")
    if args.resume:
        return stages, check_run_id(args.resume, "--resume"), None
    run_id = check_run_id(args.run_id, "--run-id") if args.run_id is not None else None
    params = _params(args)
    _check_parameters(params, stages)
    return stages, run_id, params


def start(args, settings, echo=print, checked=None) -> "RunResult":
    """Check the parsed command line and run the pipeline (api.run shares this path).
    What needs no database is checked first: a refused parameter writes nothing, not even the lock.
    `checked`: what `_checked(args)` returned, when the caller has checked already."""
    stages, run_id, params = checked or _checked(args)
    # Settings the run will need at its end are checked before its first stage: a signing key
    # inside what it protects would otherwise be refused only after the whole run.
    from .signing import check_files
    check_files(settings)
    if not args.resume:
        _check_inputs(args, params)
        _check_allow_columns(settings, params, stages)  # read-only: before the lock file is made
        _check_profile_backend(args, settings)
    # Then the workspace lock, before the database is opened anywhere: a second run on the same
    # database is refused by it (or waits, --wait), never by DuckDB's file lock.
    from .workspace import Workspace
    ws = Workspace(settings)
    with ws.lock(args.wait, holder="a pipeline run", retry="start this one with --wait"):
        return _run_locked(args, ws, stages, run_id, params, echo)


def _run_locked(args, ws: "Workspace", stages: list[str], run_id: str | None, params: dict | None,
                echo=print) -> "RunResult":
    from . import db, pipeline, wiring
    settings = ws.settings
    if args.resume:
        params, settings, started_stages, done = _resume_params(args, settings)
        if not args.stages and started_stages:
            stages = started_stages  # finish what the run set out to do, so the printed hint needs no --stages
        # The recorded values meet today's rules before anything resumes (a bad one would fail again).
        _check_parameters(params, [s for s in stages if s not in done],
                          lambda name: f"--resume {run_id}: its recorded {name}")
    elif run_id:
        _refuse_existing_run(settings, run_id, args.db)
    _check_prerequisites(settings, stages)
    if args.resume:  # the recorded --allow-columns, and today's settings
        _check_allow_columns(settings, params, stages)
    if args.resume:  # the backend it recorded, unless --llm chose another
        _check_profile_backend(args, settings)
    # A backend that is not configured (missing key or URL) is a usage error, found before any stage runs.
    from .llm import get_provider
    try:
        get_provider(settings.llm_provider, settings)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    # Fail fast, before any run is recorded, if another process (not a pipeline) holds the database file.
    if settings.db_path.exists():
        db.connect(settings.db_path, wait_s=0).close()
    return pipeline.run(wiring.open_workspace(settings), params, stages, run_id=run_id, resume=bool(args.resume),
                        wait=args.wait, progress=not args.quiet, echo=echo)


def _check_profile_backend(args, settings) -> None:
    """`--llm-profile` tunes the requests to an LLM endpoint; with the offline analyzer, which
    sends none, it would have no effect, and an option without effect is refused. (A profile set
    by WORKBENCH_LLM_PROFILE is a standing preference and stays quiet on an offline run.)"""
    if args.llm_profile and settings.llm_provider == "local":
        raise UsageError(f"--llm-profile {args.llm_profile} has no effect with the offline analyzer (--llm local), which "
                         "sends no request: drop it, or choose --llm groq or --llm openai")


def command(*words: str, db: str | None = None) -> str:
    """`run_pipeline.py <words>` as a command line that works as printed from the project root."""
    parts = [_python(), "run_pipeline.py", *words] + (["--db", _shown_path(db)] if db else [])
    return " ".join(shlex.quote(p) for p in parts)


def resume_command(run_id: str, db: str | None = None) -> str:
    return command("--resume", run_id, db=db)


def _python() -> str:
    """The interpreter running now, as the shortest name that still means it from the project root."""
    from .config import PROJECT_ROOT
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
    from .config import PROJECT_ROOT
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(absolute)


def _refuse_existing_run(settings, run_id: str, db_arg: str | None = None) -> None:
    from . import db
    if not settings.db_path.exists():
        return
    from .runs import stored_status
    with db.session(settings.db_path) as con:
        status = stored_status(con, run_id, "--run-id")
    if status is None:
        return
    if status == "succeeded":
        raise UsageError(f"--run-id {run_id}: a run with that id already succeeded in {settings.db_path}; "
                         "choose another --run-id (or leave it out for a fresh one)")
    raise UsageError(f"--run-id {run_id}: that run exists already ({status}); finish it with: "
                     f"{resume_command(run_id, db_arg)}")


def _resume_params(args, settings):
    from . import db
    from .config import load_settings
    from .runs import case_twin_hint
    with db.session(settings.db_path) as con:
        row = con.execute("SELECT params, status, llm_provider FROM runs WHERE run_id = ?", [args.resume]).fetchone()
        hint = case_twin_hint(con, args.resume) if row is None else ""
    if row is None:
        raise UsageError(f"--resume {args.resume}: no such run in {settings.db_path}{hint}")
    if row[1] == "succeeded":
        raise UsageError(f"--resume {args.resume}: that run already succeeded; nothing to resume")
    params = json.loads(row[0])
    if not args.llm and row[2]:
        settings = load_settings(db_path=str(settings.db_path), llm_provider=row[2])
    with db.session(settings.db_path) as con:
        started = con.execute("SELECT details FROM audit_log WHERE run_id = ? AND event_type = 'run_started' "
                              "ORDER BY seq LIMIT 1", [args.resume]).fetchone()
        done = {r[0] for r in con.execute("SELECT stage FROM stage_runs WHERE run_id = ? AND status = 'succeeded'",
                                          [args.resume]).fetchall()}
    stages = [s for s in (json.loads(started[0]).get("stages") or []) if s in STAGES] if started else []
    return params, settings, stages, done


def _by_segment(counts: dict[str, int]) -> str:
    """High, Medium, Low first (in that order), then anything else."""
    order = {name: i for i, name in enumerate(SEGMENTS)}
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: (order.get(kv[0], 99), str(kv[0]))))


def _counts(reasons: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {reason}" for reason, n in reasons.items())


def _print_summary(settings, result, elapsed: float, db_arg: str | None = None) -> None:
    from . import pipeline
    from .workspace import Workspace
    s = pipeline.run_summary(Workspace(settings), result.run_id)
    print()
    print(f"Run {result.run_id}: {result.status.upper()} in {elapsed:.1f}s")
    if result.error:
        print(f"  error:    {result.error}")
    ingest = s["ingest"]
    if ingest:
        labelled = ingest.get("labelled")
        print(f"  input:    {ingest.get('customers', 0):,} customers" + (f" ({labelled:,} labelled)" if labelled is not None else "")
              + f", {ingest.get('consent_records', 0):,} consent records")
        stripped = ingest.get("tombstoned_stripped") or {}
        if stripped.get("customers") or stripped.get("looks_like_erased"):
            print(f"  erased:   {stripped.get('customers', 0):,} customers left out (erased ids, tombstoned)" + (
                f"; {stripped['looks_like_erased']:,} taken in whose id only looks like an erased one "
                "(another id: check they are not the erased person)" if stripped.get("looks_like_erased") else ""))
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
        print("  segments: " + _by_segment(s["segments"]))
    if s["targeting"]:
        print(f"  targeting: {s['targeting']}")
    if s["actions"]:
        print("  actions:  " + ", ".join(f"{k} {v:,}" for k, v in s["actions"].items())
              + (f" (by segment: {_by_segment(s['action_segments'])})" if s["action_segments"] else ""))
    if s["acted"] and s["not_actioned"]:
        print(f"  not actioned: {_counts(s['not_actioned'])}")
    for line in _llm_lines(s["provider"], s["llm"]):
        print(line)
    for line in _model_lines(s):
        print(line)
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


def _model_lines(s: dict) -> list[str]:
    """Which model is deployed, why and with what interval -- or why none is -- in one line (the
    train stage's decision), and why nobody was scored when predict found no model."""
    decision = s["model_decision"]
    lines = []
    if decision:
        deployed = decision.get("outcome") in ("promoted", "reused")
        lines.append(f"  model:    {'' if deployed else 'warning: '}{decision.get('line')}")
    elif s["model"]:
        metrics = json.loads(s["model"][2]) if s["model"][2] else {}
        auc = metrics.get("gate_roc_auc", metrics.get("roc_auc"))
        lines.append(f"  model:    {s['model'][1]} sha256 {s['model'][0][:12]}…" + (f"  ROC-AUC {auc:.3f}" if isinstance(auc, (int, float)) else ""))
    if s["no_model_reason"] and not (decision and decision.get("outcome") in ("none", "skipped")):
        lines.append(f"  why none: {s['no_model_reason']}")
    return lines


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
        if h.blocked > h.unvetted:
            line += f"; {h.blocked - h.unvetted:,} kept home by the PII gate"
        if h.unvetted:
            line += f"; {h.unvetted:,} kept home and analysed offline (language not vetted: {h.unvetted_languages})"
        offline = h.items - h.model_items - h.blocked
        if offline:
            line += f"; {offline:,} analysed offline (no external_llm consent)"
        lines.append(line)
    return lines


def _subject_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{cli_help.prog()} subject", description="Data-subject rights: access, erasure, retention "
                "(README: data-protection officer's guide).")
    sub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    export = sub.add_parser("export", help="everything held about one customer, as JSON + a Markdown report")
    export.add_argument("--customer", required=True, metavar="ID")
    export.add_argument("--out", metavar="FILE", help="JSON file to write, or a folder to write it in (the report goes "
                        "beside it, .md; default: the private exports folder beside the database)")
    export.add_argument("--force", action="store_true", help="replace existing export files of that name")
    forget = sub.add_parser("forget", help="erase one customer; later imports of the id are stripped")
    forget.add_argument("--customer", required=True, metavar="ID")
    lift = sub.add_parser("lift", help="lift an erased customer's tombstone: later imports take them in again")
    lift.add_argument("--customer", required=True, metavar="ID")
    purge = sub.add_parser("purge", help="remove feedback text, analyses and LLM payloads past retention")
    purge.add_argument("--older-than", type=INT_OPTION, metavar="DAYS",
                       help="one period for all (default: the WORKBENCH_RETENTION_* settings)")
    for irreversible in (forget, purge):
        irreversible.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
        irreversible.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    for action in (export, forget, lift, purge):
        action.add_argument("--db", help="DuckDB file (default data/workbench.duckdb, or WORKBENCH_DB)")
    return p


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _confirm(args, question: str) -> None:
    """Irreversible subject commands: `--yes`, or a "yes" typed on a terminal; refused otherwise."""
    if args.yes:
        return
    if not _interactive():
        raise UsageError(f"subject {args.action}: not confirmed and no terminal to ask on; add --yes to go ahead "
                         "(or --dry-run to list what would go)")
    print(question, file=sys.stderr)
    try:
        answer = input("Type yes to go on: ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError(f"subject {args.action}: not confirmed; nothing was changed")


def _describe_erasure(plan: dict) -> str:
    rows = ", ".join(f"{t} {n}" for t, n in plan["rows"].items()) or "none"
    text = (f"rows: {rows}; LLM requests to redact: {plan['egress_requests_redacted']}; cached LLM answers: "
            f"{plan['cached_answers']}; files written for them (exports): {len(plan['exports'])}; files with a row "
            f"of theirs rewritten (outcomes): {len(plan['shared_files'])}; then the pseudonym "
            "secret, a tombstone, the database file rewritten and the dashboard snapshot republished")
    if plan["unvouched"]:
        text += f"; {_unvouched(plan['unvouched'])}"
    if plan["consent_kept_in_doubt"]:
        text += (f"; {plan['consent_kept_in_doubt']} consent record(s) under a look-alike id stay (they may withdraw "
                 "another customer's consent)")
    return text


# `subject forget` when the erasure is complete for everything the workbench holds, but files it
# did not write lie in its exports or outcomes folders (never read, so not vouched for).
ERASURE_UNVOUCHED_EXIT = 3


def _unvouched(names: list[str]) -> str:
    return (f"not written by the workbench, not searched: {', '.join(names)} -- remove or check them")


def _subject(argv: list[str]) -> int:
    """`run_pipeline.py subject ...`: parse, dispatch to churn_workbench.subjects, print one summary."""
    try:
        args = _subject_parser().parse_args(argv)
        from . import subjects
        from .config import load_settings
        settings = load_settings(db_path=args.db)
        _owned(settings)
        if args.action == "export":
            json_path, md_path = subjects.export_subject(settings, args.customer, args.out, force=args.force)
            print(f"export written: {json_path} and {md_path} (hand them over, then delete them)")
        elif args.action == "forget":
            plan = subjects.forget(settings, args.customer, dry_run=True)
            if args.dry_run:
                print(f"dry run: erasing customer {plan['customer_id']} would remove {_describe_erasure(plan)}")
                return 0
            _confirm(args, f"Erase customer {plan['customer_id']} for good? It would remove {_describe_erasure(plan)}.")
            done = subjects.forget(settings, args.customer)
            rows = ", ".join(f"{t} {n}" for t, n in done["removed_rows"].items() if n) or "none"
            kept = done["consent_kept_in_doubt"]
            details = (f"rows removed: {rows}; LLM requests redacted: "
                       f"{done['egress_redacted']}; pseudonym shredded; tombstone set (later imports strip the id); "
                       f"files the workbench wrote for them removed: {done['exports_removed']}, files with a row of "
                       f"theirs rewritten: {done['files_rewritten']}; nothing of them found in {done['checked']}"
                       + (f"; {kept} consent record(s) under a look-alike id kept (another customer's too)" if kept else "")
                       + ("; an interrupted erasure completed" if done["resumed"] else ""))
            if done["unvouched"]:
                print(f"customer {done['customer_id']}: {details}")
                print(f"customer {done['customer_id']}: the erasure is complete for what the workbench holds, but "
                      f"{len(done['unvouched'])} file(s) in its folders were {_unvouched(done['unvouched'])}")
                return ERASURE_UNVOUCHED_EXIT
            print(f"customer {done['customer_id']} erased: {details}")
        elif args.action == "lift":
            done = subjects.lift(settings, args.customer)
            print(f"tombstone of customer {done['customer_id']} lifted: the next import takes the id in again")
        else:
            plan = subjects.purge(settings, args.older_than, dry_run=True)
            would = ", ".join(f"{k} {n} (before {plan['cutoffs'][k]})" for k, n in plan["would_purge"].items())
            if args.dry_run:
                print(f"dry run: purge would remove {would}")
                return 0
            _confirm(args, f"Purge for good: {would}?")
            done = subjects.purge(settings, args.older_than)
            print("purged: " + ", ".join(f"{k} {n} (before {done['cutoffs'][k]})" for k, n in done["purged"].items()))
        return 0
    except KeyboardInterrupt as exc:
        name = str(exc) or "SIGINT"
        # Each step of a subject command is a transaction or repeatable: the same command completes it.
        print(f"{cli_help.prog()} subject: interrupted ({'Ctrl-C' if name == 'SIGINT' else name}); run the same "
              "command again to complete it (an erasure already begun resumes where it stopped)", file=sys.stderr)
        return INTERRUPT_EXIT_CODES.get(name, 130)
    except (_ArgumentError, WorkbenchError) as exc:
        return _error(f"{cli_help.prog()} subject", exc)


def _compare_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Two runs side by side: inputs and what changed in them, risk segments "
                "(and how customers moved between them), the model and its metrics, retention actions, LLM usage.",
                epilog=f"example: {prog}   (the two newest succeeded runs);  {prog} trial-1 trial-2 --json")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run A (older) and run B; default: the two newest succeeded runs")
    p.add_argument("--db", help="DuckDB file (default data/workbench.duckdb, or WORKBENCH_DB)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    return p


def _compare(argv: list[str]) -> int:
    """`compare [RUN_A RUN_B]`: two runs side by side (compare.py)."""
    prog = f"{cli_help.prog()} compare"
    p = _compare_parser(prog)
    try:
        args = p.parse_args(argv)
        if len(args.runs) not in (0, 2):
            raise _ArgumentError("name two runs (RUN_A RUN_B), or none for the two newest")
        from . import compare
        from .config import load_settings
        settings = load_settings(db_path=args.db)
        _owned(settings)
        result = compare.runs(settings.db_path, *(args.runs or [None, None]))
        print(json.dumps(result.to_dict(), indent=2) if args.json else result)
        return 0
    except (_ArgumentError, WorkbenchError) as exc:
        return _error(prog, exc)


def _settings_parser(prog: str) -> argparse.ArgumentParser:
    return _Parser(prog=prog, description="Every setting: environment variable, current value (environment, then "
                   ".env, then the default) and meaning. API keys and tokens are shown as set or not set, never their value.")


def _settings(argv: list[str]) -> int:
    """`settings`: every WORKBENCH_* setting, its current value and what it means (secrets: set or not)."""
    prog = f"{cli_help.prog()} settings"
    try:
        _settings_parser(prog).parse_args(argv)
        from .config import OTHER_VARIABLES, SECRET_VARIABLES, knobs, load_settings, secret
        settings = load_settings()
        rows = [(f.metadata["env"], "(set)" if not f.repr and getattr(settings, f.name) else str(getattr(settings, f.name)),
                 f"{f.metadata['help']}; accepts {f.metadata['domain'].expected}") for f in knobs()]
        for name, (domain, meaning) in OTHER_VARIABLES.items():
            value = secret(name)
            shown = "(not set)" if not value else "(set)" if name in SECRET_VARIABLES else value
            kind = "; a secret: never shown" if name in SECRET_VARIABLES else ""
            rows.append((name, shown, f"{meaning}{kind}; accepts {domain.expected}"))
        width = max(len(r[0]) for r in rows)
        for env, value, meaning in rows:
            print(f"{env:<{width}}  {value}\n{'':<{width}}  {meaning}")
        return 0
    except (_ArgumentError, WorkbenchError) as exc:
        return _error(prog, exc)
