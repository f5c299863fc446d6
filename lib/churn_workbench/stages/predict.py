"""Stage 4: the prediction agent — score every customer who may be profiled, with drivers.

Segments rank the scored customers by expected loss (P(churn) x value when a value column is set,
else P(churn)): "High" is the top share (capped by the budget), "Medium" the next share.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import cluster, consent, db, explain, model, segments
from ..model import contract as contracts
from .context import open_stage
from .modeldata import load_feature_frame
from .params import PredictParams


def deployed_for(con, contract_id: str, run_id: str) -> tuple[str, Path] | None:
    """(version, path) of the model deployed for this data contract: the one this run's train
    stage registered, else the newest registered for the contract; None when there is none."""
    row = con.execute("SELECT model_version, path FROM model_registry WHERE contract_id = ? "
                      "ORDER BY (run_id = ?) DESC, trained_at DESC LIMIT 1", [contract_id, run_id]).fetchone()
    return (row[0], Path(row[1])) if row else None


def no_model_reason(con, contract) -> str:
    """Why nobody can be scored: the train stage's latest decision about this contract (this
    run's when it trained), then which other model lines exist, or what to do."""
    decision = con.execute("SELECT details FROM audit_log WHERE event_type = 'model_decision' AND "
                           "json_extract_string(details, '$.contract_id') = ? ORDER BY seq DESC LIMIT 1",
                           [contract.contract_id]).fetchone()
    lines = con.execute("SELECT contract_id, count(DISTINCT model_version), max(trained_at) FROM model_registry "
                        "WHERE contract_id IS NOT NULL GROUP BY 1 ORDER BY 3 DESC").fetchall()
    why = json.loads(decision[0]).get("line") if decision else None
    reason = why or (f"no model is deployed for data contract {contract.short_id} ({contract.describe()}): run the "
                     "train stage on this data to deploy one")
    if lines:
        reason += (f"; models are deployed for {len(lines)} other data contract(s) ("
                   + ", ".join(cid[:12] for cid, _, _ in lines[:3]) + "), not for these columns")
    return reason


def run(params: PredictParams) -> dict:
    ctx = open_stage(params)
    with ctx.reading() as con:
        X, y, info = load_feature_frame(con, ctx.run_id, value_column=ctx.settings.value_column)
        # A model only ever scores data of its own contract (the columns it was trained on).
        contract = contracts.of_frame(X, info["sensitive"].columns)
        # A customer labelled as churned has already left: history (training data), never scored
        # for retention. Counted so the run summary can say why they are not scored.
        churned = y.reindex(X.index).eq(1).fillna(False).to_numpy(dtype=bool)
        X = X[~churned]
        allowed = consent.check(con, X.index, "profiling", ctx.audit, ctx.refs)
        deployed = deployed_for(con, contract.contract_id, ctx.run_id) if allowed.any() else None
        if deployed:
            previous = _previous_scores(con, deployed[0])
        no_model = no_model_reason(con, contract) if allowed.any() and not deployed else None
    if not allowed.any() or no_model:
        # Nobody may be profiled (no consent on record), or no model belongs to these columns:
        # nothing is scored, and the summary says why.
        if no_model:
            ctx.audit.event("no_model_for_contract", "warning", contract_id=contract.contract_id, reason=no_model)
        ctx.audit.event("predictions_written", rows=0, segments={}, model_sha256=None,
                        excluded_by_consent=int((~allowed).sum()), excluded_churned=int(churned.sum()), reused_unchanged=0,
                        no_model=int(allowed.sum()) if no_model else 0, no_model_reason=no_model)
        ctx.commit(lambda con: None, replace_tables=("predictions",))
        return {"run_id": ctx.run_id, "scored": 0, "excluded_by_consent": int((~allowed).sum()),
                "excluded_churned": int(churned.sum()), "reused_unchanged": 0, "segments": {}, "model_version": None,
                "contract_id": contract.contract_id, "no_model": no_model,
                "predictions": pd.DataFrame(columns=["run_id", "customer_id", "churn_probability", "segment", "drivers",
                                                     "model_version", "scored_at", "features_hash"])}
    version, path = deployed
    # Refuses an artefact whose sha256 differs from the registry (tampering, partial copy).
    trained = model.load_model(path, version)
    ctx.audit.event("model_loaded", model_sha256=version)
    X = X[allowed.reindex(X.index).to_numpy()]
    row_hash = pd.Series(pd.util.hash_pandas_object(X, index=True).to_numpy(), index=X.index)
    missing = [c for c in trained.feature_columns if c not in X.columns]
    if missing:  # the contract matched, so only a hand-edited store gets here
        raise model.ModelIntegrityError(f"model {version[:12]} needs column(s) the customers lack: {', '.join(missing[:5])}")
    with ctx.step(f"scoring {len(X):,} customers and explaining their risk"):
        probability, drivers, reused = _score(trained, X, row_hash, previous, ctx.settings)
    value = info["value"].reindex(X.index) if info["value"] is not None else None
    segment = segments.assign_segments(probability, value, high_share=ctx.settings.segment_high_share,
                                       medium_share=ctx.settings.segment_medium_share,
                                       high_budget=ctx.settings.segment_high_budget)
    predictions = pd.DataFrame({
        "run_id": ctx.run_id, "customer_id": X.index.astype(str), "churn_probability": probability.to_numpy(),
        "segment": segment.to_numpy(), "drivers": drivers.to_numpy(), "model_version": version,
        "scored_at": pd.Timestamp.now(tz="UTC").tz_localize(None), "features_hash": row_hash.to_numpy()})
    counts = predictions["segment"].value_counts().to_dict()
    ctx.audit.event("predictions_written", rows=len(predictions), segments=counts, model_sha256=version,
                    excluded_by_consent=int((~allowed).sum()), excluded_churned=int(churned.sum()), reused_unchanged=reused)
    cluster.record_steps(ctx.audit)  # where the per-customer work ran
    ctx.commit(lambda con: db.insert_df(con, "predictions", predictions), replace_tables=("predictions",))
    return {"run_id": ctx.run_id, "scored": len(predictions), "excluded_by_consent": int((~allowed).sum()),
            "excluded_churned": int(churned.sum()), "contract_id": contract.contract_id, "no_model": None,
            "reused_unchanged": reused, "segments": counts, "model_version": version, "predictions": predictions}


def _previous_scores(con, version: str) -> pd.DataFrame:
    """The newest scores made by this same model version, keyed by customer and feature-row hash."""
    row = con.execute("SELECT run_id FROM predictions WHERE model_version = ? AND features_hash IS NOT NULL "
                      "ORDER BY scored_at DESC LIMIT 1", [version]).fetchone()
    if row is None:
        return pd.DataFrame(columns=["customer_id", "features_hash", "churn_probability", "drivers"])
    return con.execute("SELECT customer_id, features_hash, churn_probability, drivers FROM predictions "
                       "WHERE run_id = ? AND model_version = ? AND features_hash IS NOT NULL", [row[0], version]).df()


def _score(trained, X: pd.DataFrame, row_hash: pd.Series, previous: pd.DataFrame, settings) -> tuple[pd.Series, pd.Series, int]:
    """Probabilities and drivers; a customer whose features and model are unchanged keeps the
    earlier score (the model is deterministic, so recomputing would give the same numbers)."""
    keys = pd.DataFrame({"customer_id": X.index.astype(str), "features_hash": row_hash.to_numpy()})
    if len(previous):
        previous = previous.astype({"customer_id": str, "features_hash": "uint64"})
        keys = keys.merge(previous, on=["customer_id", "features_hash"], how="left")  # keeps X's order
    else:
        keys = keys.assign(churn_probability=float("nan"), drivers=None)
    same = keys["churn_probability"].notna().to_numpy()
    probability = pd.Series(keys["churn_probability"].to_numpy(dtype="float64"), index=X.index)
    drivers = pd.Series(keys["drivers"].to_numpy(dtype=object), index=X.index)
    todo = X[~same]
    if len(todo):
        # Partitions of customers on the run's Dask cluster (in this process for a few).
        scored = cluster.map_frames(score_partition, todo, settings, trained)
        probability[~same] = scored["churn_probability"].to_numpy()
        drivers[~same] = scored["drivers"].to_numpy()
    return probability, drivers, int(same.sum())


def score_partition(X: pd.DataFrame, trained) -> pd.DataFrame:
    """P(churn) and the top-3 drivers (JSON) of each row of X; one partition on a cluster worker."""
    return pd.DataFrame({"churn_probability": model.predict_proba(trained, X),
                         "drivers": [json.dumps(d) for d in explain.top_drivers(trained, X, k=3)]}, index=X.index)
