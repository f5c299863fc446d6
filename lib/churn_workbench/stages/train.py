"""Stage 3: train, compare and calibrate the churn model; promote it only through the quality
gate; register it by its sha256.

Only customers whose consent register allows profiling are used for training (an objection keeps
the customer out of the training data as well as out of scoring). Leakage warnings and the gate
decision are audited and returned in the summary.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from .. import consent, model, model_card
from ..boundary import paths
from .context import open_stage
from .modeldata import frame_sha256, load_feature_frame
from .params import TrainParams

REGISTRY_COLUMNS = "model_version, path, algorithm, metrics, card_path, n_train, data_sha256"


def models_dir(settings) -> Path:
    return settings.db_path.parent / "models"


def _deployed(con, run_id: str):
    """The newest registered model of an earlier run (the one the predict stage would use)."""
    return con.execute(f"SELECT {REGISTRY_COLUMNS} FROM model_registry WHERE run_id <> ? "
                       "ORDER BY trained_at DESC LIMIT 1", [run_id]).fetchone()


MIN_UNSEEN_ROWS = 200


def _comparison(row, X, trained) -> tuple[float | None, float | None, str]:
    """(new AUC, deployed AUC, basis) for the quality gate.

    Same hold-out: the held-out customers the deployed model was never fitted on (it was refitted
    on every labelled row of its own run), both models scored on them. When fewer than
    MIN_UNSEEN_ROWS such customers exist (the usual case when the customers have not changed),
    the deployed model's own recorded held-out AUC is the reference.
    """
    new_auc = trained.metrics.get("roc_auc")
    if row is None:
        return new_auc, None, ""
    holdout = trained.holdout
    try:
        deployed = model.load_model(Path(row[1]), row[0])
    except model.ModelIntegrityError:
        deployed = None
    if deployed is not None and deployed.trained_ids is not None and holdout is not None:
        unseen = ~np.isin(model.id_hashes(holdout.index), deployed.trained_ids)
        labels = holdout["label"].to_numpy()[unseen]
        if unseen.sum() >= MIN_UNSEEN_ROWS and len(np.unique(labels)) == 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_old = model.predict_proba(deployed, X.loc[holdout.index[unseen]])
            return (float(roc_auc_score(labels, holdout["probability"].to_numpy()[unseen])),
                    float(roc_auc_score(labels, p_old)),
                    f"on the same {int(unseen.sum())} held-out customers it was never fitted on")
    recorded = json.loads(row[3]).get("roc_auc") if row[3] else None
    return new_auc, recorded, "(its own recorded held-out ROC-AUC; no shared unseen customers)"


def run(params: TrainParams) -> dict:
    """params.allow_columns: comma-separated columns the leakage guard must keep (added to the
    WORKBENCH_LEAKAGE_ALLOW setting; the data config's override list)."""
    ctx = open_stage(params)
    seed, max_train_rows, allow_columns = params.seed, params.max_train_rows, params.allow_columns
    s = ctx.settings
    allow = tuple(c.strip() for c in f"{s.leakage_allow},{allow_columns}".split(",") if c.strip())
    with ctx.reading() as con:
        # The data config's allow_columns, recorded by the ingest beside the column roles.
        allow += tuple(r[0] for r in con.execute(
            "SELECT column_name FROM customer_columns WHERE leakage_allowed").fetchall())
        X, y, info = load_feature_frame(con, ctx.run_id)
        may_profile = consent.allowed(con, X.index, "profiling")
        deployed_row = _deployed(con, ctx.run_id)
        keep = may_profile.reindex(X.index).fillna(False).to_numpy(dtype=bool)
        X, y, sensitive = X[keep], y[keep], info["sensitive"][keep]
    if not keep.any():
        # No record is no consent: with nobody who may be profiled there is nothing to train on,
        # and nothing to score. Not an input error: the run goes on and its summary says why.
        ctx.audit.event("training_skipped", "warning", reason="no customer may be profiled (no profiling consent on record)",
                        customers=int(len(keep)))
        ctx.commit(lambda con: None)
        return {"run_id": ctx.run_id, "skipped": True, "promoted": False, "labelled_rows": 0, "card_path": None,
                "gate": "no model trained: no customer may be profiled (no profiling consent on record)",
                "leakage_warnings": [], "excluded_by_consent": int(len(keep))}
    with ctx.reading() as con:
        data_hash = frame_sha256(X, y)
        if allow:
            data_hash = frame_sha256(X.assign(**{"\0allow": ",".join(sorted(allow))}), y)
        reusable = con.execute(
            f"SELECT {REGISTRY_COLUMNS} FROM model_registry WHERE data_sha256 = ? ORDER BY trained_at DESC LIMIT 1",
            [data_hash]).fetchone()
    ctx.audit.event("training_consent_checked", purpose="profiling", used=int(keep.sum()),
                    excluded=int((~keep).sum()))
    labelled = y.notna()
    summary = {"run_id": ctx.run_id, "labelled_rows": int(labelled.sum()),
               "excluded_by_consent": int((~keep).sum()), "leakage_warnings": [], "promoted": True,
               "gate": "reused: the training data is unchanged"}
    if reusable and Path(reusable[1]).exists():
        try:
            model.load_model(Path(reusable[1]), reusable[0])
        except model.ModelIntegrityError:
            reusable = None
        else:
            ctx.audit.event("model_reused", model_sha256=reusable[0], data_sha256=data_hash, algorithm=reusable[2])
            register = list(reusable)
    else:
        reusable = None
    if not reusable:
        with ctx.step(f"training on {int(labelled.sum()):,} labelled customers (comparing models by cross-validation)"):
            trained = model.train(X[labelled], y[labelled].astype(int), seed=int(seed),
                                  max_train_rows=int(max_train_rows), allow_columns=allow,
                                  sensitive_columns=list(sensitive.columns))
        lines = trained.train_summary["leakage_warnings"]
        for line in lines:
            ctx.audit.event("leakage_warning", "warning", message=line)
        new_auc, deployed_auc, basis = _comparison(deployed_row, X, trained)
        promote, reason = model.quality_gate(trained.metrics.get("roc_auc"), s.model_min_auc, None)
        if promote and deployed_auc is not None:
            # Worse means worse beyond the noise of a held-out estimate: one bootstrap standard
            # error of the new AUC, or the tolerance setting if larger.
            low, high = trained.metrics.get("roc_auc_ci95") or [float("nan")] * 2
            noise = (high - low) / 3.92 if np.isfinite(high - low) else 0.0
            promote, reason = model.quality_gate(new_auc, s.model_min_auc, deployed_auc,
                                                 max(s.model_gate_tolerance, noise), basis)
        directory = paths.inside(models_dir(s), ctx.run_id) / ("" if promote else "not_promoted")
        path, version = model.save_model(trained, directory)
        data_summary = dict(analysis_run=info["analysis_run"], customers=len(X),
                            customers_excluded_by_consent=int((~keep).sum()))
        gate = {"promoted": promote, "reason": reason, "deployed_auc": deployed_auc,
                "floor": s.model_min_auc, "tolerance": s.model_gate_tolerance}
        card_path = model_card.write_model_card(
            trained, directory, version, data_summary, sensitive=sensitive, gate=gate,
            segment_shares=(s.segment_high_share, s.segment_medium_share))
        metrics = {k: v for k, v in trained.metrics.items() if isinstance(v, (int, float))}
        ctx.audit.event("model_trained", model_sha256=version, data_sha256=data_hash, algorithm=trained.algorithm,
                        train_rows=int(labelled.sum()), metrics=metrics)
        summary.update(leakage_warnings=lines, promoted=promote, gate=reason, candidate_version=version,
                       candidate_path=str(path),
                       candidate_card_path=str(card_path), candidate_metrics=trained.metrics)
        if promote:
            register = [version, str(path), trained.algorithm, json.dumps(trained.metrics, default=str),
                        str(card_path), int(labelled.sum()), data_hash]
        else:
            ctx.audit.event("model_not_promoted", "rejected", model_sha256=version, reason=reason,
                            kept=deployed_row[0] if deployed_row else None)
            if deployed_row is None:
                ctx.commit(lambda con: None)  # the audit trail of the refusal is kept
                raise model.TrainingError(f"model not promoted: {reason}; there is no previous model to keep")
            register = list(deployed_row)

    def write(con):
        con.execute("INSERT INTO model_registry (model_version, run_id, path, algorithm, metrics, card_path, n_train, "
                    "trained_at, data_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
                    [register[0], ctx.run_id, *register[1:]])

    ctx.commit(write, replace_tables=("model_registry",))
    metrics = json.loads(register[3]) if isinstance(register[3], str) else register[3]
    summary.update(model_version=register[0], algorithm=register[2], path=str(register[1]),
                   card_path=str(register[4]), metrics=metrics, reused=bool(reusable))
    return summary
