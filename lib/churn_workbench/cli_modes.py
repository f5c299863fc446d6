"""Which option of `run_pipeline.py` has an effect in which mode: one table, checked once after
parsing. An option given where the chosen mode never reads it (`--seed` with `--outcomes`,
`--max-train-rows` with `--stages ingest`, `--synthetic` with `--resume`) is refused in one line
(exit 2), never silently ignored: the user meant something that would not happen.

The modes, as cli._command dispatches them:
- verify: `verify` (checks the audit chain and artefacts);
- outcomes: `--outcomes FILE [--outcomes-for RUN]` (attaches outcomes, runs no stage);
- simulate: `--simulate-outcomes RUN` (synthetic outcomes, attached the same way);
- resume: `--resume RUN` (finishes a run with the parameters it recorded);
- run: a pipeline run of the stages `--stages` names (all by default).

Within a run, an option read by stages has an effect only when one of them is in `--stages`.
The stage parameters' rows are derived from stages.params (the parameters each stage declares),
so a new stage parameter is classified by the stage that declares it; every other option is
listed by hand below, and a test keeps every option of the parser in the table.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from . import cli_help
from .errors import UsageError
from .stages.params import PARAMS, StageParams
from .vocab import STAGES

# What reads the seed in the ingest stage: the synthetic generator only (a customers file has no seed).
SYNTHETIC = "synthetic data"


@dataclass(frozen=True)
class Effect:
    """Where an option has an effect: the modes that read it and, within a run, what of the run
    must read it (any one of these stages, or SYNTHETIC); empty: the whole mode reads it."""
    modes: frozenset[str]
    reads: frozenset[str] = frozenset()


def _effect(modes: str, reads: tuple[str, ...] = ()) -> Effect:
    return Effect(frozenset(modes.split()), frozenset(reads))


# Options every mode reads: --help, the database each command works on, and --quiet (no progress bars),
# which asks for nothing any command would show, so scripts may pass it to every command.
EVERY_MODE = frozenset({"command", "help", "db", "quiet"})

# Options that are not stage parameters. --llm and --llm-profile select the settings of the LLM
# backend, which the feedback and act stages use, and which verify and a resumed run load too
# (a resume takes --llm over the backend it recorded).
_OTHER = {
    "run_id": _effect("run"),
    "stages": _effect("run resume"),
    "resume": _effect("resume"),
    "wait": _effect("run resume"),  # an outcomes import never waits for the workspace lock
    "llm_profile": _effect("run resume verify", ("feedback", "act")),
    "outcomes": _effect("outcomes"),
    "outcomes_for": _effect("outcomes"),
    "simulate_outcomes": _effect("simulate"),
    "heads": _effect("verify"),
    "json": _effect("verify"),
}


def _stage_parameter_rows(flag_of: dict[str, str]) -> dict[str, Effect]:
    """A row for every stage parameter with a flag, from the stages that declare it. `flag_of`:
    the parameters whose dest is not their own name (llm_provider -> llm, synthetic_n -> synthetic)."""
    base = {f.name for f in dataclasses.fields(StageParams)}  # db_path, run_id: above
    rows: dict[str, Effect] = {}
    for stage in STAGES:
        for f in dataclasses.fields(PARAMS[stage]):
            if f.name in base:
                continue
            dest = flag_of.get(f.name, f.name)
            # The seed reaches the ingest stage only through the synthetic generator.
            reader = SYNTHETIC if (stage, f.name) == ("ingest", "seed") else stage
            old = rows.get(dest, _effect("run"))
            rows[dest] = Effect(old.modes, old.reads | {reader})
    # A resumed run takes --llm over the backend it recorded; verify loads the backend's settings.
    rows["llm"] = Effect(rows["llm"].modes | {"resume", "verify"}, rows["llm"].reads)
    # --simulate-outcomes draws its synthetic outcomes with --seed.
    rows["seed"] = Effect(rows["seed"].modes | {"simulate"}, rows["seed"].reads)
    return rows


def table(flag_of: dict[str, str]) -> dict[str, Effect]:
    """Option dest -> where it has an effect (EVERY_MODE aside)."""
    return {**_stage_parameter_rows(flag_of), **_OTHER}


def mode(args: argparse.Namespace) -> str:
    if args.command == "verify":
        return "verify"
    if args.outcomes or args.outcomes_for:
        return "outcomes"
    if args.simulate_outcomes:
        return "simulate"
    return "resume" if args.resume else "run"


_MODE_WORDS = {"verify": "with verify", "outcomes": "with --outcomes", "simulate": "with --simulate-outcomes",
               "resume": "with --resume (a resumed run keeps the parameters it recorded)", "run": "in a pipeline run"}


def _reads(args: argparse.Namespace) -> set[str] | None:
    """What of this run reads options: its stages (and SYNTHETIC when its ingest generates the
    customers); None when unknown (a resume without --stages finishes the stages it recorded)."""
    if args.stages is None:
        if args.resume:
            return None
        stages = set(STAGES)
    else:
        stages = {s.strip() for s in args.stages.split(",")}
        if not stages <= set(STAGES):
            return None  # the --stages check names the unknown stage
    if "ingest" in stages and not args.customers and not args.resume:
        stages.add(SYNTHETIC)
    return stages


def _readers(reads: frozenset[str]) -> str:
    stages = [s for s in STAGES if s in reads]
    words = [f"the {' and '.join(stages)} stage{'s' if len(stages) > 1 else ''}"] if stages else []
    if SYNTHETIC in reads:
        words.append("synthetic customers (an ingest without --customers)")
    return " or ".join(words)


def check(given: list[str], args: argparse.Namespace, flags: dict[str, str], rows: dict[str, Effect]) -> None:
    """Refuse the first option in `given` (dests, in command-line order) that has no effect in
    the mode `args` chose; `flags`: dest -> its flag."""
    now = mode(args)
    reads = _reads(args) if now in ("run", "resume") else None
    for dest in given:
        if dest in EVERY_MODE:
            continue
        flag, effect = flags[dest], rows[dest]
        if now not in effect.modes:
            if now == "verify":
                raise UsageError(f"{flag} is not an option of verify; verify takes --db, --heads and --json")
            if effect.modes == {"verify"}:
                raise UsageError(f"{flag} is an option of verify ({cli_help.prog()} verify {flag} ...), not of a run")
            raise UsageError(f"{flag} has no effect {_MODE_WORDS[now]}: drop it")
        if effect.reads and reads is not None and not effect.reads & reads:
            shown = f"--stages {args.stages}" if args.stages is not None else "all stages"
            extra = " and --customers" if SYNTHETIC in effect.reads and args.customers else ""
            raise UsageError(f"{flag} has no effect with {shown}{extra} (only {_readers(effect.reads)} use it): drop it")
