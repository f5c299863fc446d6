"""Stage 5: segmentation & action agent — a retention action for each customer who warrants one
and may be contacted; a random control group is held out to measure the effect later."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .. import cluster, consent, db, incremental, uplift
from ..control import control_group, intended_actions, record_assignment
from ..llm import ActionRequest, EgressJournal, propose_actions
from ..llm.policy import parse_catalogue
from ..vocab import sentiment_label
from .context import install_owner_words, latest_run_with, open_stage
from .modeldata import load_feature_frame
from .params import ActParams


def run(params: ActParams) -> dict:
    ctx = open_stage(params)
    seed = params.seed
    share = ctx.settings.control_share if params.control_share < 0 else float(params.control_share)
    wanted = [s.strip() for s in params.action_segments.split(",") if s.strip()]  # checked by params.check
    with ctx.reading() as con:
        install_owner_words(con)
        # This run's predictions when its predict stage ran (even if it scored nobody: an older
        # run's scores may be of other customers or another model line), else the newest.
        predicted = con.execute("SELECT count(*) FROM audit_log WHERE run_id = ? AND stage = 'predict' "
                                "AND event_type = 'predictions_written'", [ctx.run_id]).fetchone()[0]
        pred_run = ctx.run_id if predicted else latest_run_with(con, "predictions", ctx.run_id)
        preds = con.execute(
            "SELECT customer_id, churn_probability, segment, drivers, model_version FROM predictions WHERE run_id = ?",
            [pred_run]).df()
        analysis_run = latest_run_with(con, "feedback_analysis", ctx.run_id)
        context = _feedback_context(_feedback_context_frame(con, analysis_run))
        # A customer labelled as churned has already left: never actioned, even when the
        # predictions read here are older than that label.
        left = set(con.execute("SELECT CAST(customer_id AS VARCHAR) FROM customers WHERE churned = 1").df().iloc[:, 0]) \
            if db.table_exists(con, "customers") else set()
        churned = preds["customer_id"].isin(left)
        targeted = preds["segment"].isin(wanted)
        candidates = preds[targeted & ~churned]
        # Once an earlier run's outcomes are in, target by expected effect x value (uplift.py).
        candidates, targeting = _uplift_targets(con, ctx, preds[~churned], candidates, context, seed)
        marketing = consent.check(con, candidates["customer_id"], "marketing", ctx.audit, ctx.refs)
        external = consent.allowed(con, candidates["customer_id"], "external_llm")
        previous = con.execute(
            "SELECT customer_id, context_sha256, " + ", ".join(incremental.REUSED_ACTION_COLUMNS) + " FROM actions "
            "WHERE run_id = ? AND context_sha256 IS NOT NULL", [latest_run_with(con, "actions", ctx.run_id)]).df()
    eligible = candidates[marketing.reindex(candidates["customer_id"]).to_numpy()].copy()
    # Keyed by the seed alone, never the run: a customer stays in their group run after run (control.py).
    in_control = control_group(eligible["customer_id"], share, seed)
    record_assignment(ctx.audit, ctx.refs, in_control, share, seed)
    eligible["control"] = in_control.reindex(eligible["customer_id"]).to_numpy()
    treat = eligible[~eligible["control"]]
    requests = [ActionRequest(customer_id=c, segment=s, churn_probability=float(p), drivers=json.loads(d),
                              topics=context.get(c, ([], None))[0], sentiment_label=context.get(c, ([], None))[1],
                              external_allowed=bool(external.get(c, False)))
                for c, s, p, d in zip(treat["customer_id"], treat["segment"], treat["churn_probability"], treat["drivers"])]
    # Incremental: an unchanged context whose action was the catalogue's choice, offline now too, keeps it.
    keys = incremental.action_context_keys(requests, parse_catalogue().version)
    offline_now = np.array([ctx.settings.llm_provider == "local" or not r.external_allowed for r in requests], dtype=bool)
    kept = incremental.reusable_offline_actions([r.customer_id for r in requests], keys, previous, offline_now)
    fresh = ~kept["reused"].to_numpy()
    todo = [r for r, f in zip(requests, fresh) if f]
    # Write-ahead: llm_egress rows and cached choices are written by the journal as requests go.
    with ctx.step(f"proposing retention actions for {len(todo):,} customers"):
        outcome = propose_actions(todo, ctx.settings, ctx.audit, ctx.run_id,
                                  journal=EgressJournal(ctx.settings.db_path, ctx.run_id, "act"))
    ctx.audit.event("actions_reused", items=int((~fresh).sum()), proposed=len(todo))
    position = np.arange(len(requests))
    kept = kept.assign(customer_id=[r.customer_id for r in requests], context_sha256=keys, order=position)[~fresh]
    proposed = outcome.rows.assign(context_sha256=[k for k, f in zip(keys, fresh) if f], order=position[fresh])
    # In the requests' order, as if all had been proposed; astype: an empty outcome has untyped columns.
    actions = pd.concat([proposed, kept.drop(columns="reused")], ignore_index=True).sort_values("order") \
        .drop(columns="order").astype({"customer_id": str}) \
        .merge(treat[["customer_id", "segment", "model_version"]], on="customer_id", how="left")
    control = eligible[eligible["control"]]
    # A control row names the action the customer would have received (the catalogue's choice, no
    # LLM call), fixed before any outcome exists, so effects can be compared per action type.
    intended = intended_actions(control, context)
    control_rows = pd.DataFrame({"customer_id": control["customer_id"], "segment": control["segment"],
                                 "action_type": intended, "channel": None, "discount_pct": 0.0,
                                 "message": "held out: control group", "status": "control", "provider": None,
                                 "model": None, "prompt_version": None, "model_version": control["model_version"]})
    rows = pd.concat([actions, control_rows], ignore_index=True)
    rows["run_id"] = ctx.run_id
    rows["created_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = rows[["run_id", "customer_id", "segment", "action_type", "channel", "discount_pct", "message", "status",
                 "provider", "model", "prompt_version", "model_version", "created_at", "context_sha256"]]
    status = rows["status"].value_counts().to_dict()
    # Why scored customers got no action, in the terms of the rule that chose them (run_report.py).
    by_uplift = targeting["method"] == "uplift"
    ctx.audit.event("actions_written", rows=len(rows), by_status=status, control_share=share,
                    excluded_by_consent=int((~marketing).sum()),
                    excluded_churned=int(churned.sum() if by_uplift else (targeted & churned).sum()),
                    targeting=targeting["method"], action_segments=",".join(wanted),
                    not_in_segments=0 if by_uplift else int((~targeted).sum()),
                    not_chosen=int((~churned).sum()) - len(candidates) if by_uplift else 0,
                    no_expected_benefit=targeting.get("no_benefit", 0),
                    llm_items=len(requests), llm=outcome.stats)

    cluster.record_steps(ctx.audit)  # where the per-customer work ran

    def write(con):
        db.insert_df(con, "actions", rows)

    ctx.commit(write, replace_tables=("actions",), digest_tables=("llm_egress",))
    return {"run_id": ctx.run_id, "candidates": len(candidates), "excluded_by_consent": int((~marketing).sum()),
            "control": int(eligible["control"].sum()), "by_status": status, "llm": outcome.stats, "actions": rows}


def _feedback_context_frame(con, analysis_run: str | None) -> pd.DataFrame:
    """Per customer: mean sentiment and the distinct topics of all their feedback (in SQL: it is
    a group-by over up to a million rows)."""
    return con.execute(
        """SELECT customer_id, avg(sentiment) AS sentiment,
                  list_sort(list_distinct(flatten(list(from_json(topics, '["VARCHAR"]'))))) AS topics
           FROM feedback_analysis WHERE run_id = ? GROUP BY customer_id""", [analysis_run]).df()


def _feedback_context(grouped: pd.DataFrame) -> dict[str, tuple[list[str], str | None]]:
    """customer_id -> (topics, label of the average sentiment)."""
    if grouped.empty:
        return {}
    return {c: (list(t), sentiment_label(s)) for c, t, s in zip(grouped["customer_id"], grouped["topics"], grouped["sentiment"])}


def _uplift_targets(con, ctx, preds: pd.DataFrame, candidates: pd.DataFrame, context: dict,
                    seed: int) -> tuple[pd.DataFrame, dict]:
    """The risk rule's candidates, or -- once an earlier run has outcomes for enough treated and
    control customers -- the same number of customers ranked by expected effect x value, never
    one with a negative expected effect (a "sleeping dog"). Also returns how they were chosen:
    method "risk" or "uplift", and for uplift how many had no expected benefit at all."""
    settings = ctx.settings
    risk = {"method": "risk"}
    source = uplift.latest_experiment(con, ctx.run_id, settings.min_control)
    if source is None:
        ctx.audit.event("targeting", method="risk", reason="no earlier run with enough outcomes")
        return candidates, risk
    X, _, info = load_feature_frame(con, ctx.run_id)
    data = uplift.experiment_data(con, source)
    data = data[data["customer_id"].isin(X.index)]
    try:
        model = uplift.fit(uplift.model_frame(X.loc[data["customer_id"]], info["roles"], data["action_type"]),
                           data["treated"], data["churned"], seed, trained_on=source)
    except ValueError as exc:
        ctx.audit.event("targeting", method="risk", reason=f"uplift model not fitted: {exc}", outcomes_run=source)
        return candidates, risk
    # Each scored customer's expected effect of the action the catalogue would give them.
    scored = preds[preds["customer_id"].astype(str).isin(X.index)]
    offers = intended_actions(scored, context)
    effect = model.effect(uplift.model_frame(X.loc[scored["customer_id"].astype(str)], info["roles"], offers))
    score = uplift.targeting_score(effect, uplift.customer_values(con, settings.value_column, effect.index))
    chosen = uplift.select(score, len(candidates))
    ctx.audit.event("targeting", method="uplift", outcomes_run=source, trained_treated=model.n_treated,
                    trained_control=model.n_control, budget=len(candidates), selected=len(chosen),
                    negative_effect=int((effect < 0).sum()), value_column=settings.value_column or None)
    return preds[preds["customer_id"].astype(str).isin(chosen)], {"method": "uplift", "no_benefit": int((score <= 0).sum())}
