"""Stage 3: train, compare and calibrate the churn model; deploy it only through the quality gate;
register it by its sha256, with the data contract it belongs to.

Only customers whose consent register allows profiling are used for training (an objection keeps
the customer out of the training data as well as out of scoring). A model is compared only with
the deployed model of its own data contract (`model.contract`); data with other columns starts a
new model line. With too few labelled customers nothing is trained and the run goes on: the
summary says why. Leakage warnings and the decision are audited and returned in the summary.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from .. import consent, model, model_card
from ..boundary import paths
from ..boundary.data_config import check_allow_columns
from ..model import contract as contracts
from ..model import evidence, retraining
from ..model.gate import interval_text
from .context import open_stage
from .modeldata import frame_sha256, load_feature_frame
from .params import TrainParams

REGISTRY_COLUMNS = ("model_version, path, algorithm, metrics, card_path, n_train, data_sha256, contract_id, contract, "
                    "data_run_id")
# Customers the deployed model never saw, needed to compare both models on the same rows.
MIN_UNSEEN_ROWS = 100
MIN_UNSEEN_PER_CLASS = 20


def deployed_row(con, contract_id: str, run_id: str):
    """The registry row of the model deployed for `contract_id` before this run (the newest one of
    an earlier run: a resumed run's own earlier attempt does not count)."""
    return con.execute(f"SELECT {REGISTRY_COLUMNS} FROM model_registry WHERE contract_id = ? AND run_id <> ? "
                       "ORDER BY trained_at DESC LIMIT 1", [contract_id, run_id]).fetchone()


def recorded_auc(metrics_json: str | None) -> tuple[float | None, list | None]:
    """A registered model's ROC-AUC and interval as the gate weighs them (older entries: held-out)."""
    metrics = json.loads(metrics_json) if metrics_json else {}
    if metrics.get("gate_roc_auc") is not None:
        return metrics["gate_roc_auc"], metrics.get("gate_roc_auc_ci95")
    return metrics.get("roc_auc"), metrics.get("roc_auc_ci95")


def _comparison(row, X, trained) -> dict | None:
    """New minus deployed ROC-AUC with its interval, or None when nothing of this contract is deployed.

    Paired when at least MIN_UNSEEN_ROWS evaluated customers were never seen by the deployed
    model: both are scored on them (the new one out-of-fold, less its selection optimism).
    Otherwise against the deployed model's recorded figure and interval.
    """
    if row is None:
        return None
    oof = trained.oof
    try:
        deployed = model.load_model(Path(row[1]), row[0])
    except model.ModelIntegrityError:
        deployed = None
    if deployed is not None and deployed.trained_ids is not None and oof is not None:
        unseen = ~np.isin(model.id_hashes(oof.index), deployed.trained_ids)
        labels = oof["label"].to_numpy()[unseen]
        if unseen.sum() >= MIN_UNSEEN_ROWS and min(labels.sum(), len(labels) - labels.sum()) >= MIN_UNSEEN_PER_CLASS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_old = model.predict_proba(deployed, X.loc[oof.index[unseen]])
            paired = evidence.paired_difference(labels, oof["probability"].to_numpy()[unseen], p_old)
            # Nested figures owe nothing to the selection; otherwise take its optimism off.
            shift = 0.0 if trained.train_summary.get("nested_evaluation") else trained.metrics.get("selection_optimism") or 0.0
            return {"difference": paired["difference"] - shift, "ci": [c - shift for c in paired["ci"]],
                    "old": paired["old"], "basis": f"on the same {int(unseen.sum()):,} labelled customers it never saw"}
    auc, ci = recorded_auc(row[3])
    if auc is None:
        return None
    ci = ci or [auc, auc]
    diff = evidence.unpaired_difference(trained.metrics["gate_roc_auc"], trained.metrics["gate_roc_auc_ci95"], auc, ci)
    return {**diff, "basis": f"against its recorded ROC-AUC {auc:.3f} (95% interval {ci[0]:.3f}–{ci[1]:.3f})"}


def _kept_line(row, why: str) -> str:
    auc, ci = recorded_auc(row[3])
    figure = f" (ROC-AUC {auc:.3f}, 95% interval {ci[0]:.3f}–{ci[1]:.3f})" if auc is not None and ci else ""
    return f"kept {row[2]} {row[0][:12]} of data contract {row[7][:12]}{figure}; {why}"


def _none_line(contract, why: str) -> str:
    return (f"none deployed for data contract {contract.short_id} ({contract.describe()}): nobody is scored; {why}")


def run(params: TrainParams) -> dict:
    """params.allow_columns: comma-separated columns the leakage guard must keep (added to the
    WORKBENCH_LEAKAGE_ALLOW setting; the data config's override list)."""
    ctx = open_stage(params)
    seed, max_train_rows, allow_columns = params.seed, params.max_train_rows, params.allow_columns
    s = ctx.settings
    allow = tuple(c.strip() for c in f"{s.leakage_allow},{allow_columns}".split(",") if c.strip())
    with ctx.reading() as con:
        # --allow-columns meets the data config's rules, against the columns the ingest recorded.
        # WORKBENCH_LEAKAGE_ALLOW by the same rule, named by its variable.
        roles = dict(con.execute("SELECT column_name, role FROM customer_columns").fetchall())
        check_allow_columns(allow_columns, roles)
        check_allow_columns(s.leakage_allow, roles, label="WORKBENCH_LEAKAGE_ALLOW")
        # The data config's allow_columns, recorded by the ingest beside the column roles.
        allow += tuple(r[0] for r in con.execute(
            "SELECT column_name FROM customer_columns WHERE leakage_allowed").fetchall())
        X, y, info = load_feature_frame(con, ctx.run_id)
        may_profile = consent.allowed(con, X.index, "profiling")
        keep = may_profile.reindex(X.index).fillna(False).to_numpy(dtype=bool)
        X, y, sensitive = X[keep], y[keep], info["sensitive"][keep]
        contract = contracts.of_frame(X, sensitive.columns, y)
        current = deployed_row(con, contract.contract_id, ctx.run_id)
    base = {"run_id": ctx.run_id, "excluded_by_consent": int((~keep).sum()), "leakage_warnings": [],
            "contract_id": contract.contract_id, "data_run": info["data_run"], "card_path": None}

    def finish(outcome: str, line: str, register: list | None = None, **extra) -> dict:
        """Audit the decision (the run summary reads it), register the deployed model, commit."""
        ctx.audit.event("model_decision", "ok" if outcome in ("promoted", "reused") else "warning", outcome=outcome,
                        line=line, contract_id=contract.contract_id, data_run=info["data_run"],
                        model_sha256=register[0] if register else None)

        def write(con):
            if register:
                con.execute("INSERT INTO model_registry (model_version, run_id, path, algorithm, metrics, card_path, "
                            "n_train, trained_at, data_sha256, contract_id, contract, data_run_id, decision) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?)",
                            [register[0], ctx.run_id, *register[1:10], line])

        ctx.commit(write, replace_tables=("model_registry",))
        out = {**base, "outcome": outcome, "decision": line, "promoted": outcome in ("promoted", "reused"),
               "deployed": bool(register), **extra}
        if register:
            out.update(model_version=register[0], path=str(register[1]), algorithm=register[2],
                       metrics=json.loads(register[3]) if register[3] else {}, card_path=register[4])
        return out

    if not keep.any():
        # No record is no consent: with nobody who may be profiled there is nothing to train on,
        # and nothing to score. Not an input error: the run goes on and its summary says why.
        why = "no model trained: no customer may be profiled (no profiling consent on record)"
        ctx.audit.event("training_skipped", "warning", reason=why, customers=int(len(keep)))
        return finish("skipped", f"not trained: {why}", skipped=True, labelled_rows=0,
                      gate=why)
    ctx.audit.event("training_consent_checked", purpose="profiling", used=int(keep.sum()),
                    excluded=int((~keep).sum()))
    labelled = y.notna()
    n_pos = int((y[labelled] == 1).sum())
    n_neg = int(labelled.sum()) - n_pos
    base["labelled_rows"] = int(labelled.sum())
    if labelled.sum() < s.model_min_labelled or min(n_pos, n_neg) < s.model_min_per_class:
        why = (f"too few labelled customers to train on: {int(labelled.sum())} ({n_pos} churned, {n_neg} not); "
               f"a model needs at least {s.model_min_labelled} with {s.model_min_per_class} of each "
               "(WORKBENCH_MODEL_MIN_LABELLED, WORKBENCH_MODEL_MIN_PER_CLASS)")
        ctx.audit.event("training_skipped", "warning", reason=why, customers=int(len(keep)))
        line = f"not trained: {why}; " + (_kept_line(current, "it stays deployed") if current
                                          else _none_line(contract, "add labelled customers and run again"))
        return finish("skipped", line, list(current) if current else None, skipped=True, gate=why)

    data_hash = frame_sha256(X.assign(**{"\0allow": ",".join(sorted(allow))}) if allow else X, y)
    with ctx.reading() as con:
        reusable = con.execute(f"SELECT {REGISTRY_COLUMNS} FROM model_registry WHERE data_sha256 = ? AND contract_id = ? "
                               "ORDER BY trained_at DESC LIMIT 1", [data_hash, contract.contract_id]).fetchone()
    if reusable and Path(reusable[1]).exists() and params.retrain != "always":
        try:
            model.load_model(Path(reusable[1]), reusable[0])
        except model.ModelIntegrityError:
            reusable = None
        else:
            ctx.audit.event("model_reused", model_sha256=reusable[0], data_sha256=data_hash, algorithm=reusable[2])
            auc, ci = recorded_auc(reusable[3])
            figure = f": {interval_text(auc, ci)}" if auc is not None and ci else ""
            line = (f"deployed {reusable[2]} {reusable[0][:12]} of data contract {contract.short_id}, reused: "
                    f"the training data is unchanged{figure}")
            return finish("reused", line, list(reusable), reused=True, gate="reused: the training data is unchanged")

    # The leakage guard's allow-list shapes the model as much as the data: part of every row's hash.
    rows = retraining.row_hashes((X.assign(**{"\0allow": ",".join(sorted(allow))}) if allow else X)[labelled],
                                 y[labelled])
    if current is not None:
        decision = _retraining_decision(current, X[labelled], y[labelled], rows, params.retrain, s)
        if decision.keep:
            ctx.audit.event("model_reused", model_sha256=current[0], data_sha256=data_hash, algorithm=current[2],
                            policy="retraining", reason=decision.reason, **decision.details)
            line = (f"deployed {current[2]} {current[0][:12]} of data contract {contract.short_id}, kept by the "
                    f"retraining policy: {decision.reason}")
            return finish("reused", line, list(current), reused=True, gate=f"kept: {decision.reason}",
                          retraining=decision.details)
        ctx.audit.event("retraining", reason=decision.reason, **decision.details)
    with ctx.step(f"training on {int(labelled.sum()):,} labelled customers (comparing models by cross-validation)"):
        trained = model.train(X[labelled], y[labelled].astype(int), seed=int(seed), max_train_rows=int(max_train_rows),
                              allow_columns=allow, sensitive_columns=list(sensitive.columns),
                              nested_max_rows=s.model_nested_max_rows)
    lines = trained.train_summary["leakage_warnings"]
    for line in lines:
        ctx.audit.event("leakage_warning", "warning", message=line)
    m = trained.metrics
    comparison = _comparison(current, X, trained)
    promote, reason = model.quality_gate(m.get("gate_roc_auc"), m.get("gate_roc_auc_ci95"), s.model_min_auc,
                                         comparison, s.model_gate_tolerance, rows=m.get("evaluation_rows"))
    # The run id names a folder: proven inside the workspace's models folder before anything is written.
    ctx.workspace.prove_folders()  # also when the notebook runs by hand, outside the runner's lock
    directory = ctx.workspace.folder(paths.inside(ctx.workspace.models_dir, ctx.run_id) / ("" if promote else "not_promoted"))
    path, version = model.save_model(trained, directory)
    retraining.save_rows(rows, path)  # what the retraining policy compares the next runs' data with
    if promote:
        line = (f"deployed {trained.algorithm} {version[:12]} of data contract {contract.short_id} "
                + (f"(replacing {current[0][:12]})" if current else "(a new model line for this data)") + f": {reason}")
    elif current:
        line = _kept_line(current, f"the new model {version[:12]} was not promoted: {reason}")
    else:
        line = _none_line(contract, f"the new model {version[:12]} was not promoted: {reason}")
    data_summary = {"data imported by run": info["data_run"], "feedback analysis of run": info["analysis_run"] or "none",
                    "customers": len(X), "customers excluded by consent": int((~keep).sum())}
    card_path = model_card.write_model_card(
        trained, directory, version, data_summary, sensitive=sensitive, segment_shares=(s.segment_high_share, s.segment_medium_share),
        gate={"promoted": promote, "reason": reason, "decision": line}, contract=contract, new_line=current is None)
    numbers = {k: v for k, v in m.items() if isinstance(v, (int, float))}
    ctx.audit.event("model_trained", model_sha256=version, data_sha256=data_hash, algorithm=trained.algorithm,
                    train_rows=int(labelled.sum()), metrics=numbers, contract_id=contract.contract_id)
    extra = dict(leakage_warnings=lines, gate=reason, candidate_version=version, candidate_path=str(path),
                 candidate_card_path=str(card_path), candidate_metrics=m, new_line=current is None)
    if promote:
        register = [version, str(path), trained.algorithm, json.dumps(m, default=str), str(card_path),
                    int(labelled.sum()), data_hash, contract.contract_id, contract.to_json(), info["data_run"]]
        return finish("promoted", line, register, **extra)
    ctx.audit.event("model_not_promoted", "rejected", model_sha256=version, reason=reason,
                    kept=current[0] if current else None, contract_id=contract.contract_id)
    return finish("kept" if current else "none", line, list(current) if current else None, **extra)


def _retraining_decision(current, X, y, rows, retrain: str, s) -> retraining.Decision:
    """The retraining policy (model/retraining.py) for the deployed model `current` (a registry
    row) and the current labelled rows X, y (row_hashes `rows`)."""
    trained_rows = None if retrain == "always" else retraining.load_rows(Path(current[1]))
    change = None
    quality = None
    if trained_rows is not None:
        change = retraining.change(trained_rows, rows)
        fresh = change.new_or_changed
        labels = y[fresh].astype(int).to_numpy()
        positives, negatives = int(labels.sum()), int(len(labels) - labels.sum())
        auc = None
        if change.gone == 0 and change.share < s.retrain_max_change and len(labels) >= retraining.MIN_ROWS \
                and min(positives, negatives) >= retraining.MIN_PER_CLASS:
            try:
                deployed = model.load_model(Path(current[1]), current[0])
            except (model.ModelIntegrityError, OSError):
                return retraining.Decision(False, "the deployed model's file could not be loaded")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                auc = float(roc_auc_score(labels, model.predict_proba(deployed, X[fresh])))
        quality = (auc, positives, negatives)
    return retraining.decide(change, s.retrain_max_change, quality, recorded_auc(current[3]), s.model_gate_tolerance,
                             s.model_min_auc, retrain)
