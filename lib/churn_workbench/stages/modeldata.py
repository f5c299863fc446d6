"""Reading the model's inputs from the store: customer columns with roles, and feedback features."""
from __future__ import annotations

import hashlib

import duckdb
import pandas as pd

from .. import db, features
from ..errors import StageInputMissing
from ..vocab import IDENTIFIER_ROLES, TOPICS
from .context import customer_roles, latest_run_with


def load_feature_frame(con: duckdb.DuckDBPyConnection, run_id: str,
                       value_column: str = "") -> tuple[pd.DataFrame, pd.Series, dict]:
    """(X indexed by customer_id, label Series (nullable), info). Uses the feedback analysis of the
    customers data now in the store (`analysis_run_of_data`).

    info: "data_run" (the run whose ingest wrote the customers now in the store), "analysis_run"
    (or None), "roles", "sensitive" (DataFrame of the role-"sensitive" columns, indexed like X;
    never part of X), "value" (the `value_column` as numbers, or None when not given or absent).
    """
    roles = customer_roles(con)
    if "customer_id" not in roles or not db.table_exists(con, "customers"):
        raise StageInputMissing("no customers in the store yet: run the ingest stage first "
                                "(run_pipeline.py --stages ingest,..., or notebooks/01_ingest.ipynb)")
    # Identifier columns are never read here: they cannot become features by accident.
    wanted = [c for c, r in roles.items() if r in ("id", "label", "feature", "sensitive")]
    if value_column and value_column in roles and roles[value_column] not in IDENTIFIER_ROLES and value_column not in wanted:
        wanted.append(value_column)
    customers = con.execute("SELECT " + ", ".join(db.ident(c) for c in wanted) + " FROM customers").df()
    customers["customer_id"] = customers["customer_id"].astype(str)
    data_run = data_run_of_store(con)
    analysis_run = analysis_run_of_data(con, run_id, data_run)
    analysis = con.execute(
        "SELECT customer_id, feedback_id, sentiment, topics FROM feedback_analysis WHERE run_id = ?", [analysis_run]
    ).df()
    feedback = con.execute("SELECT feedback_id, customer_id, created_at FROM feedback").df()
    # A fixed topic list keeps the model's columns identical from run to run.
    fb = features.feedback_features(analysis, feedback, topics=list(TOPICS))
    indexed = customers.set_index("customer_id", drop=False)
    X = features.feature_frame(indexed, roles, fb)
    y = customers.set_index("customer_id")["churned"].reindex(X.index) if "churned" in customers else pd.Series(pd.NA, index=X.index)
    sensitive_cols = [c for c, r in roles.items() if r == "sensitive"]
    sensitive = indexed[sensitive_cols].copy()
    sensitive.index = X.index
    value = None
    if value_column and value_column in indexed.columns:
        value = pd.to_numeric(indexed[value_column], errors="coerce")
        value.index = X.index
    return X, y, {"data_run": data_run, "analysis_run": analysis_run, "roles": roles, "sensitive": sensitive,
                  "value": value}


def data_run_of_store(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run whose ingest wrote the customers table now in the store (an unchanged re-import
    leaves it as it was, so this stays the run that produced the data)."""
    row = con.execute("SELECT max(run_id) FROM customer_columns").fetchone()
    return row[0] if row else None


def analysis_run_of_data(con: duckdb.DuckDBPyConnection, run_id: str, data_run: str | None) -> str | None:
    """This run's feedback analysis, else the newest one made since the current data was imported
    (a notebook run by hand, or `--stages train`); never one of data that has since been replaced."""
    if con.execute("SELECT count(*) FROM feedback_analysis WHERE run_id = ?", [run_id]).fetchone()[0]:
        return run_id
    newest = latest_run_with(con, "feedback_analysis", run_id)
    if newest is None or data_run is None:
        return newest if data_run is None else None
    started = dict(con.execute("SELECT run_id, started_at FROM runs WHERE run_id IN (?, ?)", [newest, data_run]).fetchall())
    if newest == data_run or (started.get(newest) and started.get(data_run) and started[newest] >= started[data_run]):
        return newest
    return None


def frame_sha256(X: pd.DataFrame, y: pd.Series) -> str:
    """A fingerprint of the training data, so unchanged data can reuse the registered model."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, X.columns)).encode())
    digest.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(y.astype("Float64"), index=True).to_numpy().tobytes())
    return digest.hexdigest()
