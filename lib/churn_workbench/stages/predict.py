"""Stage 4: the prediction agent — score every customer who may be profiled, with drivers."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import consent, db, explain, model, segments
from .context import latest_run_with, open_stage
from .modeldata import load_feature_frame


def registered_model(con, run_id: str) -> tuple[str, Path]:
    model_run = latest_run_with(con, "model_registry", run_id)
    if model_run is None:
        raise RuntimeError("no trained model is registered: run the train stage first")
    version, path = con.execute(
        "SELECT model_version, path FROM model_registry WHERE run_id = ? ORDER BY trained_at DESC LIMIT 1", [model_run]
    ).fetchone()
    return version, Path(path)


def run(db_path: str = "", run_id: str = "") -> dict:
    ctx = open_stage("predict", db_path, run_id)
    with ctx.reading() as con:
        X, _, _ = load_feature_frame(con, ctx.run_id)
        allowed = consent.check(con, X.index, "profiling", ctx.audit, ctx.refs)
        version, path = registered_model(con, ctx.run_id)
    # Refuses an artefact whose sha256 differs from the registry (tampering, partial copy).
    trained = model.load_model(path, version)
    ctx.audit.event("model_loaded", model_sha256=version)
    X = X[allowed.reindex(X.index).to_numpy()]
    probability = pd.Series(model.predict_proba(trained, X), index=X.index)
    segment = segments.assign_segments(probability, ctx.settings.high_threshold, ctx.settings.medium_threshold)
    drivers = explain.top_drivers(trained, X, k=3)
    predictions = pd.DataFrame({
        "run_id": ctx.run_id, "customer_id": X.index.astype(str), "churn_probability": probability.to_numpy(),
        "segment": segment.to_numpy(), "drivers": [json.dumps(d) for d in drivers], "model_version": version,
        "scored_at": pd.Timestamp.now(tz="UTC").tz_localize(None)})
    counts = predictions["segment"].value_counts().to_dict()
    ctx.audit.event("predictions_written", rows=len(predictions), segments=counts, model_sha256=version,
                    excluded_by_consent=int((~allowed).sum()))
    ctx.commit(lambda con: db.insert_df(con, "predictions", predictions), replace_tables=("predictions",))
    return {"run_id": ctx.run_id, "scored": len(predictions), "excluded_by_consent": int((~allowed).sum()),
            "segments": counts, "model_version": version, "predictions": predictions}
