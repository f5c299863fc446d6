"""What every stage needs: settings, run id, audit buffer, subject refs, and short DB sessions."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator

import duckdb

from .. import audit, cluster, db, runs
from ..audit import AuditLog
from ..pseudonyms import SubjectRefs
from ..config import Settings, load_settings
from ..errors import UsageError
from ..workspace import Workspace
from . import workers
from .params import StageParams

# Tables that several stages of one run write to: a stage replaces only its own rows.
STAGE_SCOPED_TABLES = ("llm_egress",)
# Run ids of stages started by hand (a notebook opened in JupyterLab), not by the runner.
INTERACTIVE_PREFIX = "interactive-"


@dataclass
class StageContext:
    stage: str
    run_id: str
    settings: Settings
    audit: AuditLog
    refs: SubjectRefs
    started: float = field(default_factory=time.monotonic)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.settings)

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short connection for reading inputs; closed before any slow work starts."""
        with self.workspace.session() as con:
            yield con

    def commit(self, write: Callable[[duckdb.DuckDBPyConnection], None], replace_tables: tuple[str, ...] = (),
               digest_tables: tuple[str, ...] = ()) -> None:
        """Write this stage's outputs and its audit events in one transaction.

        Rows of `replace_tables` that carry this run id are deleted first, so re-running a stage
        (resume after a crash) leaves exactly the rows of one successful attempt. `digest_tables`:
        tables the stage wrote to before this commit (the write-ahead egress record), whose rows
        the chain must commit to as well.
        """
        with self.step("writing results and audit events to the store"), \
                self.workspace.session() as con, db.transaction(con):
            before = audit.run_row_counts(con, self.run_id)
            for table in replace_tables:
                if table in STAGE_SCOPED_TABLES:
                    con.execute(f"DELETE FROM {db.ident(table)} WHERE run_id = ? AND stage = ?", [self.run_id, self.stage])
                else:
                    con.execute(f"DELETE FROM {db.ident(table)} WHERE run_id = ?", [self.run_id])
            write(con)
            # The chain commits to the rows this stage wrote in the governed tables (row digests).
            after = audit.run_row_counts(con, self.run_id)
            audit.record_digests(con, self.audit, self.run_id,
                                 [t for t in after if t in replace_tables or t in digest_tables
                                  or after[t] != before.get(t, 0)])
            self.audit.flush(con)
        if not self.run_id.startswith(INTERACTIVE_PREFIX):
            # What the runner's live line shows until the stage ends: the notebook's own cells.
            self.step("showing the results in the notebook")


    def step(self, task: str, total: int | None = None, unit: str = "items"):
        """Live progress of a long step (progress.py): followed by the runner's terminal, or shown
        in the notebook's output when the stage runs by hand. Use `with ctx.step(...) as s:`."""
        from .. import progress
        return progress.step(self.settings.db_path, self.run_id, self.stage, task, total, unit,
                             interactive=self.run_id.startswith(INTERACTIVE_PREFIX))


def open_stage(params: StageParams) -> StageContext:
    """Set up a stage. Empty `run_id` (a notebook opened by hand) starts an interactive run.

    A run id given by hand meets the command line's rules before anything is written: one that
    differs from a stored run's only in letter case, or names a run that already succeeded, is
    refused (the runner never starts a stage under either); a new one gets its run record, so
    no row carries a run id the `runs` table does not know."""
    stage, run_id = params.check().stage, params.run_id
    cluster.warm_workers_with(workers.warm_up)  # a cluster this kernel starts itself (no run's cluster)
    settings = load_settings(db_path=params.db_path, llm_provider=getattr(params, "llm_provider", ""))
    store = runs.RunStore(Workspace(settings))
    status = None
    if run_id and settings.db_path.exists():  # no database: not a run the runner started
        what = "parameter run_id"
        with Workspace(settings).session() as con:
            status = runs.stored_status(con, run_id, what)
        if status == "succeeded":
            raise UsageError(f"{what} {run_id}: that run already succeeded, and its rows are sealed by its "
                             "manifest; leave run_id empty for an interactive run, or choose a new id")
    if status is None:
        # A run by hand: its input files are proven before its first write (the database, the
        # run record, the subject key); the runner's own runs were checked by the command line.
        params.check_inputs()
        run_id = run_id or INTERACTIVE_PREFIX + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        store.open_interactive(run_id, stage, settings.llm_provider)
    return StageContext(stage=stage, run_id=run_id, settings=settings, audit=AuditLog(run_id, stage),
                        refs=SubjectRefs(settings.subject_key_file, settings.subject_key, settings.subject_keystore))


def latest_run_with(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> str | None:
    """This run's rows in `table` if any, else the newest run that has some (for notebooks run by hand)."""
    if con.execute(f"SELECT count(*) FROM {db.ident(table)} WHERE run_id = ?", [run_id]).fetchone()[0]:
        return run_id
    return con.execute(f"SELECT {runs.latest_run_sql(db.ident(table))}").fetchone()[0]


def previous_run_with(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> str | None:
    """The newest run other than `run_id` with rows in `table`: what a stage carries unchanged rows
    over from (never this run's own rows, which its commit replaces)."""
    others = f"(SELECT run_id FROM {db.ident(table)} WHERE run_id <> {db.literal(run_id)})"
    return con.execute(f"SELECT {runs.latest_run_sql(others)}").fetchone()[0]


def install_owner_words(con: duckdb.DuckDBPyConnection) -> int:
    """Give the egress allow rule the data owner's allow-list (data config `allow_words`, stored
    by the ingest stage); returns how many words it has."""
    from ..egress.vocabulary import set_owner_words

    words = [w for (w,) in con.execute("SELECT word FROM egress_allow_words").fetchall()]
    set_owner_words(words)
    return len(words)


def customer_roles(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Column of the stored customers table -> its role (vocab.ROLES), as the ingest typed it."""
    return dict(con.execute("SELECT column_name, role FROM customer_columns").fetchall())
