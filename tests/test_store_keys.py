"""Tables that sessions append to keep no index (DuckDB rewrites a table's whole index at the end
of every session that adds a row): their keys stay unique by how rows are written, and a database
made when they still had a primary key is rebuilt without it, its rows kept as they were."""
from __future__ import annotations

import duckdb
import pandas as pd

from churn_workbench import db


def _primary_keys(con) -> set[str]:
    return {t for (t,) in con.execute("SELECT table_name FROM duckdb_constraints() "
                                      "WHERE constraint_type = 'PRIMARY KEY'").fetchall()}


def _answers(*pairs: tuple[str, str], run: str = "r1") -> pd.DataFrame:
    return pd.DataFrame({"cache_key": [k for k, _ in pairs], "result": [r for _, r in pairs], "provider": "p",
                         "model": "m", "prompt_version": "v", "created_run_id": run})


def test_appended_tables_have_no_index(tmp_path):
    with db.session(tmp_path / "wb.duckdb") as con:
        assert not _primary_keys(con) & {"audit_log", "analysis_cache"}


def test_the_first_answer_per_key_wins(tmp_path):
    with db.session(tmp_path / "wb.duckdb") as con:
        assert db.insert_new_keys(con, "analysis_cache", "cache_key", _answers(("k1", "first"), ("k1", "again"))) == 1
        assert db.insert_new_keys(con, "analysis_cache", "cache_key", _answers(("k1", "later"), ("k2", "b"))) == 1
        assert con.execute("SELECT cache_key, result FROM analysis_cache ORDER BY 1").fetchall() == \
            [("k1", "first"), ("k2", "b")]
        assert db.insert_new_keys(con, "analysis_cache", "cache_key", _answers()) == 0


def test_a_database_made_with_the_keys_is_rebuilt_without_them_rows_kept(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE analysis_cache (cache_key VARCHAR PRIMARY KEY, result VARCHAR, provider VARCHAR, "
                "model VARCHAR, prompt_version VARCHAR, created_run_id VARCHAR)")
    con.execute("CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, ts VARCHAR, run_id VARCHAR, stage VARCHAR, "
                "event_type VARCHAR, status VARCHAR, subject_ref VARCHAR, details VARCHAR, prev_hash VARCHAR, hash VARCHAR)")
    con.execute("INSERT INTO analysis_cache VALUES ('k2', 'b', 'p', 'm', 'v', 'r0'), ('k1', 'a', 'p', 'm', 'v', 'r0')")
    con.execute("INSERT INTO audit_log (seq, event_type, hash) VALUES (2, 'y', 'h2'), (1, 'x', 'h1')")
    con.close()
    with db.session(path) as con:
        assert not _primary_keys(con) & {"audit_log", "analysis_cache"}
        assert con.execute("SELECT cache_key, result FROM analysis_cache").fetchall() == [("k2", "b"), ("k1", "a")]
        assert con.execute("SELECT seq, event_type, hash FROM audit_log").fetchall() == [(1, "x", "h1"), (2, "y", "h2")]
