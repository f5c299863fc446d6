"""Stage 3: train, compare and calibrate the churn model; register it by its sha256."""
from __future__ import annotations

import json
from pathlib import Path

from .. import model, model_card
from .context import open_stage
from .modeldata import frame_sha256, load_feature_frame
from .params import TrainParams


def models_dir(settings) -> Path:
    return settings.db_path.parent / "models"


def run(params: TrainParams) -> dict:
    ctx = open_stage(params)
    seed, max_train_rows = params.seed, params.max_train_rows
    with ctx.reading() as con:
        X, y, info = load_feature_frame(con, ctx.run_id)
        data_hash = frame_sha256(X, y)
        reusable = con.execute(
            "SELECT model_version, path, algorithm, metrics, card_path FROM model_registry "
            "WHERE data_sha256 = ? ORDER BY trained_at DESC LIMIT 1", [data_hash]).fetchone()
    labelled = y.notna()
    if reusable and Path(reusable[1]).exists():
        version, path, algorithm, metrics, card_path = reusable
        try:
            model.load_model(Path(path), version)
        except model.ModelIntegrityError:
            reusable = None
        else:
            ctx.audit.event("model_reused", model_sha256=version, data_sha256=data_hash, algorithm=algorithm)
            metrics = json.loads(metrics)
    if not (reusable and Path(reusable[1]).exists()):
        trained = model.train(X[labelled], y[labelled].astype(int), seed=int(seed), max_train_rows=int(max_train_rows))
        directory = models_dir(ctx.settings) / ctx.run_id
        path, version = model.save_model(trained, directory)
        data_summary = dict(trained.train_summary, analysis_run=info["analysis_run"], customers=len(X))
        card_path = model_card.write_model_card(trained, directory, version, data_summary)
        algorithm, metrics = trained.algorithm, trained.metrics
        ctx.audit.event("model_trained", model_sha256=version, data_sha256=data_hash, algorithm=algorithm,
                        train_rows=int(labelled.sum()), metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))})

    def write(con):
        con.execute("INSERT INTO model_registry VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
                    [version, ctx.run_id, str(path), algorithm, json.dumps(metrics, default=str), str(card_path),
                     int(labelled.sum()), data_hash])

    ctx.commit(write, replace_tables=("model_registry",))
    return {"run_id": ctx.run_id, "model_version": version, "algorithm": algorithm, "path": str(path),
            "card_path": str(card_path), "labelled_rows": int(labelled.sum()), "metrics": metrics,
            "reused": bool(reusable)}
