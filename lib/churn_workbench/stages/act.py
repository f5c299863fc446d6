"""Stage 5: segmentation & action agent — a retention action for each customer who warrants one
and may be contacted; a random control group is held out to measure the effect later."""
from __future__ import annotations

import json

import pandas as pd

from .. import consent, db, segments
from ..errors import UsageError
from ..llm import ActionRequest, EgressJournal, propose_actions
from ..vocab import SEGMENTS, sentiment_label
from .context import latest_run_with, open_stage
from .params import ActParams


def run(params: ActParams) -> dict:
    ctx = open_stage(params)
    seed = params.seed
    share = ctx.settings.control_share if params.control_share < 0 else float(params.control_share)
    wanted = [s.strip() for s in params.action_segments.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SEGMENTS))
    if unknown:
        raise UsageError(f"action_segments: unknown segment(s) {', '.join(unknown)}; choose from {', '.join(SEGMENTS)}")
    with ctx.reading() as con:
        pred_run = latest_run_with(con, "predictions", ctx.run_id)
        preds = con.execute(
            "SELECT customer_id, churn_probability, segment, drivers, model_version FROM predictions WHERE run_id = ?",
            [pred_run]).df()
        analysis_run = latest_run_with(con, "feedback_analysis", ctx.run_id)
        analysis = _feedback_context_frame(con, analysis_run)
        # A customer labelled as churned has already left: never actioned, even when the
        # predictions read here are older than that label.
        left = set(con.execute("SELECT CAST(customer_id AS VARCHAR) FROM customers WHERE churned = 1").df().iloc[:, 0]) \
            if db.table_exists(con, "customers") else set()
        churned = preds["customer_id"].isin(left)
        targeted = preds["segment"].isin(wanted)
        candidates = preds[targeted & ~churned]
        marketing = consent.check(con, candidates["customer_id"], "marketing", ctx.audit, ctx.refs)
        external = consent.allowed(con, candidates["customer_id"], "external_llm")
    eligible = candidates[marketing.reindex(candidates["customer_id"]).to_numpy()].copy()
    in_control = segments.control_group(eligible["customer_id"], share, f"{seed}:{ctx.run_id}")
    eligible["control"] = in_control.reindex(eligible["customer_id"]).to_numpy()
    context = _feedback_context(analysis)
    treat = eligible[~eligible["control"]]
    requests = [ActionRequest(customer_id=c, segment=s, churn_probability=float(p), drivers=json.loads(d),
                              topics=context.get(c, ([], None))[0], sentiment_label=context.get(c, ([], None))[1],
                              external_allowed=bool(external.get(c, False)))
                for c, s, p, d in zip(treat["customer_id"], treat["segment"], treat["churn_probability"], treat["drivers"])]
    # Write-ahead: llm_egress rows and cached choices are written by the journal as requests go.
    outcome = propose_actions(requests, ctx.settings, ctx.audit, ctx.run_id,
                              journal=EgressJournal(ctx.settings.db_path, ctx.run_id, "act"))
    # astype: an empty outcome (nobody to contact) has untyped columns.
    actions = outcome.rows.astype({"customer_id": str}).merge(treat[["customer_id", "segment", "model_version"]],
                                                              on="customer_id", how="left")
    control = eligible[eligible["control"]]
    control_rows = pd.DataFrame({"customer_id": control["customer_id"], "segment": control["segment"],
                                 "action_type": "none", "channel": None, "discount_pct": 0.0,
                                 "message": "held out: control group", "status": "control", "provider": None,
                                 "model": None, "prompt_version": None, "model_version": control["model_version"]})
    rows = pd.concat([actions, control_rows], ignore_index=True)
    rows["run_id"] = ctx.run_id
    rows["created_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = rows[["run_id", "customer_id", "segment", "action_type", "channel", "discount_pct", "message", "status",
                 "provider", "model", "prompt_version", "model_version", "created_at"]]
    status = rows["status"].value_counts().to_dict()
    ctx.audit.event("actions_written", rows=len(rows), by_status=status, control_share=share,
                    excluded_by_consent=int((~marketing).sum()), excluded_churned=int((targeted & churned).sum()),
                    not_in_segments=int((~targeted).sum()), action_segments=",".join(wanted),
                    llm_items=len(requests), llm=outcome.stats)

    def write(con):
        db.insert_df(con, "actions", rows)

    ctx.commit(write, replace_tables=("actions",))
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
