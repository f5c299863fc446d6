"""Observed outcomes after a run's retention actions: reading, validating, attaching to a run.

An outcomes file (CSV or Parquet, read by `inputs.read_table`) has one row per customer:

    customer_id   the customer (required, unique in the file)
    churned       observed churn: 0/1, true/false, yes/no in any case (required; a blank is an
                  error: a customer whose outcome is unknown is left out of the file)
    observed_at   when the outcome was observed (required; ISO 8601 or d/m/Y-style dates)

Every problem raises `InputError` with one line naming the file, column and first rows, never
the values of the id column. Outcomes belong to the run whose actions they follow: the newest
run whose actions were all created before the earliest `observed_at` in the file, or the run
named with `--outcomes-for`. An outcome observed before the run's actions were created cannot
show their effect and is rejected. Attaching outcomes to a run again replaces the earlier ones,
in one transaction, and is recorded in the audit chain (file sha256, counts; no customer ids).
Rows of erased customers (an active tombstone) are skipped, counted and audited without the id,
like every other input (subjects/tombstones.admit).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

import json

from . import audit as audit_mod
from . import db, effect, synthetic, wiring
from .audit import AuditLog
from .boundary import paths
from .boundary.run_ids import check_run_id
from .errors import InputError, UsageError
from .inputs import read_table
from .inputs.columns import describe_rows, require_columns
from .inputs.feedback import parse_timestamps
from .inputs.values import BOOLEAN_SPELLINGS, NO_TOKENS, YES_TOKENS, as_text, read_ids
from .runs import case_twin_hint
from .subjects import registry
from .workspace import Workspace

COLUMNS = ("customer_id", "churned", "observed_at")
STAGE = "outcomes"  # the audit chain's stage name for outcome events (not a pipeline stage)


def read_outcomes(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """customer_id (string), churned (0/1 int), observed_at (datetime64, naive UTC), one row per customer."""
    source = str(path)
    df = read_table(path, encoding=encoding)
    cols = require_columns(df, source, COLUMNS, ())
    if len(df) == 0:
        raise InputError(f"{source}: no data rows; an outcomes file needs one row per customer whose outcome is known")
    ids = read_ids(df[cols["customer_id"]], source, f"'{cols['customer_id']}'", "outcome needs a customer id")
    dupes = np.flatnonzero(ids.duplicated(keep="first").to_numpy())
    if len(dupes):
        raise InputError(f"{source}: column '{cols['customer_id']}' repeats a customer at {describe_rows(dupes)}; "
                         "give one outcome per customer")
    churned = _binary(df[cols["churned"]], source, cols["churned"])
    observed = parse_timestamps(df[cols["observed_at"]], source, cols["observed_at"])
    missing = np.flatnonzero(observed.isna().to_numpy())
    if len(missing):
        raise InputError(f"{source}: column '{cols['observed_at']}' is blank at {describe_rows(missing)}; "
                         "give the date each outcome was observed")
    # An outcome is observed, so it lies in the past; a day of slack for time zones. A date ahead
    # of that is a typo (2062 for 2026) that would hold the loop's effect report up for years.
    ahead = np.flatnonzero((observed > pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(days=1)).to_numpy())
    if len(ahead):
        raise InputError(f"{source}: column '{cols['observed_at']}' is in the future at {describe_rows(ahead)}; "
                         "give the date each outcome was observed")
    return pd.DataFrame({"customer_id": ids.astype(str).to_numpy(), "churned": churned,
                         "observed_at": observed.to_numpy()})


def _binary(raw: pd.Series, source: str, column: str) -> np.ndarray:
    if ptypes.is_bool_dtype(raw.dtype) and not raw.isna().any():
        return raw.to_numpy(dtype=int)
    lowered = as_text(raw).str.lower()
    yes = lowered.isin(YES_TOKENS).to_numpy()
    no = lowered.isin(NO_TOKENS).to_numpy()
    bad = np.flatnonzero(~yes & ~no)
    if len(bad):
        raise InputError(f"{source}: column '{column}' must be {BOOLEAN_SPELLINGS} at {describe_rows(bad)}; "
                         "leave out customers whose outcome is not known yet")
    return yes.astype(int)


@dataclass
class Attached:
    run_id: str
    rows: int             # outcomes stored for the run
    in_experiment: int    # of those, customers the run treated or held out as control
    treated: int
    control: int
    not_in_run: int       # customers of the file the run neither treated nor held out
    source_sha256: str
    erased_skipped: int = 0  # rows of erased customers (tombstoned ids) left out


def experiment_runs(con) -> pd.DataFrame:
    """Runs that have actions: run_id, started_at, last action time, newest first."""
    return con.execute("""SELECT a.run_id, any_value(r.started_at) AS started_at, max(a.created_at) AS acted_at
                          FROM actions a LEFT JOIN runs r USING (run_id) GROUP BY a.run_id
                          ORDER BY acted_at DESC, a.run_id DESC""").df()


def choose_run(con, outcomes: pd.DataFrame, source: str, run_id: str | None) -> str:
    """The run the outcomes belong to: `run_id` if given (it must have actions), else the newest
    run whose actions were all created before the earliest observation."""
    runs = experiment_runs(con)
    if run_id:
        if run_id not in set(runs["run_id"]):
            raise UsageError(f"--outcomes-for {run_id}: that run has no actions in this database"
                             f"{case_twin_hint(con, run_id)}")
        return run_id
    first = outcomes["observed_at"].min()
    before = runs[runs["acted_at"] < first]
    if before.empty:
        raise UsageError(f"{source}: no run's actions precede the earliest observed_at ({first}); "
                         "name the run with --outcomes-for RUN_ID")
    return str(before.iloc[0]["run_id"])


def attach(db_path: str | Path, path: str | Path, run_id: str | None = None, refs=None) -> Attached:
    """Validate the file, pick the run, and store its outcomes (replacing earlier ones for that run)."""
    outcomes = read_outcomes(path)
    source_sha256 = audit_mod.file_sha256(path)
    return store(db_path, outcomes, str(path), source_sha256, run_id, refs)


def _refs_of(db_path=None, settings=None):
    """The subject key of the workspace (the tombstones are hashed with it): of `settings`, else
    of the settings `db_path` is used with."""
    from .config import load_settings
    from .pseudonyms import SubjectRefs
    settings = settings or load_settings(db_path=str(db_path))
    return SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore)


def store(db_path: str | Path, outcomes: pd.DataFrame, source: str, source_sha256: str,
          run_id: str | None = None, refs=None) -> Attached:
    """Store validated outcomes (columns COLUMNS) for a run, with an audit event, in one transaction.
    Erased customers' rows are skipped first (`refs`: the subject refs; default the workspace's)."""
    from .subjects import tombstones
    with db.session(db_path) as con:
        if con.execute("SELECT count(*) FROM tombstones WHERE lifted_at IS NULL").fetchone()[0]:
            kept, counts = tombstones.admit(con, refs or _refs_of(db_path), {"outcomes": outcomes})
            outcomes, skipped = kept["outcomes"], counts["outcomes"]
        else:
            skipped = 0
        if outcomes.empty:
            raise InputError(f"{source}: every row is an erased customer's ({skipped} row(s)); nothing to attach")
        run_id = choose_run(con, outcomes, source, run_id)
        arms = con.execute("SELECT customer_id, status = 'control' AS control FROM actions WHERE run_id = ?",
                           [run_id]).df()
        acted_at = con.execute("SELECT max(created_at) FROM actions WHERE run_id = ?", [run_id]).fetchone()[0]
        early = np.flatnonzero((outcomes["observed_at"] < acted_at).to_numpy())
        if len(early):
            raise InputError(f"{source}: column 'observed_at' is before run {run_id}'s actions ({acted_at}) at "
                             f"{describe_rows(early)}; an outcome observed before the action cannot show its effect")
        arm = outcomes["customer_id"].map(dict(zip(arms["customer_id"].astype(str), arms["control"])))
        frame = outcomes.assign(run_id=run_id, source=Path(source).name, source_sha256=source_sha256,
                                attached_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
        result = Attached(run_id=run_id, rows=len(frame), in_experiment=int(arm.notna().sum()),
                          treated=int((arm == False).sum()), control=int((arm == True).sum()),  # noqa: E712
                          not_in_run=int(arm.isna().sum()), source_sha256=source_sha256, erased_skipped=skipped)
        log = AuditLog(run_id, STAGE)
        log.event("outcomes_attached", source=Path(source).name, source_sha256=source_sha256, rows=result.rows,
                  erased_skipped=skipped,
                  treated=result.treated, control=result.control, not_in_run=result.not_in_run,
                  churned=int(frame["churned"].sum()),
                  observed_from=str(frame["observed_at"].min()), observed_to=str(frame["observed_at"].max()))
        with db.transaction(con):
            con.execute("DELETE FROM outcomes WHERE run_id = ?", [run_id])
            db.insert_df(con, "outcomes", frame[["run_id", "customer_id", "churned", "observed_at", "source",
                                                 "source_sha256", "attached_at"]])
            log.flush(con)
    return result


# --------------------------------------------------------------------------------------------
# the command line's outcome commands (run_pipeline.py --outcomes / --simulate-outcomes)
# --------------------------------------------------------------------------------------------

def simulate_for_run(settings, run_id: str, seed: int = 0):
    """Synthetic outcomes for a run's treated and control customers, written to
    `<data dir>/outcomes/<run_id>.csv` and attached to the run. Only for a run on synthetic data
    (the generator is re-run from the run's recorded parameters to know each customer's truth).
    Returns (Attached, synthetic.SimulatedOutcomes, path)."""
    with db.session(settings.db_path) as con:
        row = con.execute("SELECT params FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise UsageError(f"--simulate-outcomes {run_id}: no such run in {settings.db_path}"
                             f"{case_twin_hint(con, run_id)}")
        params = json.loads(row[0] or "{}")
        if params.get("customers_path"):
            raise UsageError(f"--simulate-outcomes {run_id}: that run used your own customers file; outcomes can "
                             "only be simulated for synthetic data (attach real ones with --outcomes FILE)")
        n, data_seed = int(params.get("synthetic_n", 1000)), int(params.get("seed", 42))
        sources = synthetic.source_fingerprint(n, data_seed)
        wanted = audit_mod.sha256_hex(audit_mod.canonical_json({k: v["sha256"] for k, v in sources.items()}))
        if not con.execute("SELECT count(*) FROM ingest_log WHERE input_sha256 = ?", [wanted]).fetchone()[0]:
            raise UsageError(f"--simulate-outcomes {run_id}: the store holds no data from --synthetic {n} --seed {data_seed}")
        actions = con.execute("SELECT customer_id, status <> 'control' AS treated, action_type FROM actions "
                              "WHERE run_id = ? ORDER BY customer_id", [run_id]).df()
    if actions.empty:
        raise UsageError(f"--simulate-outcomes {run_id}: that run has no actions (did its act stage run?)")
    data = synthetic.generate(n, data_seed)
    draw_seed = int(audit_mod.sha256_hex(f"{run_id}:{seed}")[:12], 16)
    simulated = synthetic.simulate_outcomes(data, actions, draw_seed)
    ws = Workspace(settings)
    out_dir = ws.folder(ws.outcomes_dir)  # proven inside the workspace, then made
    path = paths.inside(out_dir, f"{check_run_id(run_id, '--simulate-outcomes')}.csv")
    frame = simulated.frame[["customer_id", "churned"]].assign(
        observed_at=pd.Timestamp.now(tz="UTC").tz_localize(None).isoformat(timespec="seconds"))
    # Outcomes are per-customer data: 0600, and a link planted at the name is replaced, not followed.
    # Recorded first, so erasure finds the file by its record (subjects/registry.py).
    content = frame.to_csv(index=False)
    with ws.session() as con, db.transaction(con):
        registry.record(con, ws, path, "outcomes", content.encode())
    paths.write_private(path, content, force=True)
    return attach(settings.db_path, path, run_id, _refs_of(settings=settings)), simulated, path


def command(settings, outcomes_path: str | None, outcomes_for: str | None, simulate_run: str | None,
            seed: int = 0, echo=print) -> int:
    """`--outcomes FILE [--outcomes-for RUN_ID]` or `--simulate-outcomes RUN_ID`: attach outcomes,
    print the effect report, republish the dashboard snapshot. Runs no stage notebook."""
    if outcomes_for and not outcomes_path:
        raise UsageError("--outcomes-for needs --outcomes FILE")
    if outcomes_path and simulate_run:
        raise UsageError("use either --outcomes FILE or --simulate-outcomes RUN_ID, not both")
    if not Path(settings.db_path).exists():
        raise UsageError(f"{settings.db_path}: no database yet (run the pipeline first)")
    ws = wiring.open_workspace(settings)
    with ws.lock(wait=False, holder="an outcomes import"):
        if simulate_run:
            attached, simulated, path = simulate_for_run(settings, simulate_run, seed)
            echo(f"Simulated outcomes for run {simulate_run}: {path}")
            frame = simulated.frame
            truth = ", ".join(f"{t} {frame.loc[frame['treated'] == t_, 'effect'].mean():+.1%}"
                              for t, t_ in (("treated", True), ("control", False)) if (frame["treated"] == t_).any())
            echo(f"  generator's true effect (mean over customers): {simulated.true_effect():+.1%} ({truth})")
        else:
            attached = attach(settings.db_path, outcomes_path, outcomes_for, _refs_of(settings=settings))
        echo(f"Attached {attached.rows:,} outcomes to run {attached.run_id}: {attached.treated:,} treated, "
             f"{attached.control:,} control, {attached.not_in_run:,} not in that run's experiment"
             + (f"; {attached.erased_skipped:,} row(s) of erased customers skipped" if attached.erased_skipped else ""))
        with db.session(settings.db_path) as con:
            rep = effect.report(con, attached.run_id, settings.min_control)
        for line in rep.lines():
            echo(line)
        ws.changed(echo)
    return 0
