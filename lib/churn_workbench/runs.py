"""Which run's rows to use: the one rule for "the latest run", shared by the stages and the snapshot."""
from __future__ import annotations


def latest_run_sql(table_sql: str, runs_sql: str = "runs") -> str:
    """A scalar subquery: the newest run (by start time, then run id) that has rows in `table_sql`.

    `table_sql` and `runs_sql` are SQL relation names (already quoted with `db.ident` when they
    come from anywhere but this code). A run missing from `runs_sql` counts as the oldest.
    """
    return (f"(SELECT t.run_id FROM {table_sql} t LEFT JOIN {runs_sql} r USING (run_id) GROUP BY t.run_id "
            "ORDER BY max(r.started_at) DESC NULLS LAST, t.run_id DESC LIMIT 1)")
