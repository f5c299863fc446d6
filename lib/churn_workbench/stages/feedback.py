"""Stage 2: the feedback NLP agent — anonymize every text, then analyse it (LLM or offline).

Customers without `external_llm` consent are analysed by the offline analyzer only. Texts whose
source (text + the customer's identifiers) is unchanged since an earlier run reuse that run's
anonymized text, so a re-run does not anonymize or send anything twice.
"""
from __future__ import annotations

import json
from collections import Counter

import pandas as pd
from tqdm.auto import tqdm

from .. import audit as audit_mod
from .. import consent, db
from ..anonymize import KnownIdentifiers, anonymize_many
from ..llm import EgressJournal, FeedbackItem, analyze_feedback
from .context import latest_run_with, open_stage

# Large chunks: anonymize_many spreads a chunk over worker processes, and each chunk pays its start-up.
ANONYMIZE_CHUNK = 100_000


def _known_identifiers(customers: pd.DataFrame, identifier_columns: list[str]) -> dict[str, KnownIdentifiers]:
    known = {}
    extra_cols = [c for c in identifier_columns if c not in ("name", "email", "phone")]
    for row in customers.itertuples(index=False):
        values = row._asdict()
        extra = tuple(str(values[c]) for c in extra_cols if pd.notna(values.get(c))) + (str(values["customer_id"]),)
        known[values["customer_id"]] = KnownIdentifiers(
            name=values.get("name") if pd.notna(values.get("name")) else None,
            email=values.get("email") if pd.notna(values.get("email")) else None,
            phone=str(values.get("phone")) if pd.notna(values.get("phone")) else None,
            extra=extra)
    return known


def _source_hash(frame: pd.DataFrame, known: dict[str, KnownIdentifiers]) -> list[str]:
    return [audit_mod.sha256_hex(f"{t}\x1f{known[c]!r}") for t, c in zip(frame["text_sha256"], frame["customer_id"])]


def run(db_path: str = "", run_id: str = "", llm_provider: str = "") -> dict:
    ctx = open_stage("feedback", db_path, run_id, llm_provider)
    with ctx.reading() as con:
        feedback = con.execute("SELECT feedback_id, customer_id, text, text_sha256 FROM feedback ORDER BY feedback_id").df()
        id_cols = [r[0] for r in con.execute("SELECT column_name FROM customer_columns WHERE role = 'identifier'").fetchall()]
        cols = ", ".join(f'"{c}"' for c in ["customer_id", *id_cols])
        customers = con.execute(f"SELECT {cols} FROM customers WHERE customer_id IN (SELECT DISTINCT customer_id FROM feedback)").df() \
            if db.table_exists(con, "customers") else pd.DataFrame(columns=["customer_id"])
        external = consent.check(con, feedback["customer_id"].unique(), "external_llm", ctx.audit, ctx.refs)
        # Only the newest analysed run is consulted, so the lookup does not grow with history.
        previous = con.execute(
            "SELECT DISTINCT ON (source_sha256) source_sha256, anonymized_text, pii_counts FROM feedback_analysis "
            "WHERE run_id = ? AND source_sha256 IS NOT NULL", [latest_run_with(con, "feedback_analysis", ctx.run_id)]
        ).df()
        cache = {}
        if ctx.settings.llm_provider != "local":
            cache = {k: json.loads(v) for k, v in con.execute("SELECT cache_key, result FROM analysis_cache").fetchall()}

    known = _known_identifiers(customers, id_cols)
    feedback["source_sha256"] = _source_hash(feedback, known)
    reuse = previous.set_index("source_sha256")
    hit = feedback["source_sha256"].isin(reuse.index)
    anonymized = pd.Series(index=feedback.index, dtype=object)
    pii_counts = pd.Series(index=feedback.index, dtype=object)
    if hit.any():
        anonymized[hit] = reuse.loc[feedback.loc[hit, "source_sha256"], "anonymized_text"].to_numpy()
        pii_counts[hit] = reuse.loc[feedback.loc[hit, "source_sha256"], "pii_counts"].to_numpy()
    todo = feedback.index[~hit]
    entity_totals: Counter = Counter()
    for start in tqdm(range(0, len(todo), ANONYMIZE_CHUNK), desc="anonymizing", unit="chunk", disable=len(todo) == 0):
        idx = todo[start:start + ANONYMIZE_CHUNK]
        results = anonymize_many(feedback.loc[idx, "text"].astype(str).tolist(),
                                 [known.get(c) for c in feedback.loc[idx, "customer_id"]])
        anonymized[idx] = [r.text for r in results]
        pii_counts[idx] = [json.dumps(r.counts, sort_keys=True) for r in results]
        for r in results:
            entity_totals.update(r.counts)
    ctx.audit.event("anonymized", texts=int(len(todo)), reused=int(hit.sum()), entities=dict(entity_totals))

    items = [FeedbackItem(f, c, t, bool(external.get(c, False)))
             for f, c, t in zip(feedback["feedback_id"], feedback["customer_id"], anonymized)]
    # Write-ahead: llm_egress rows and cached answers are written by the journal as requests go.
    journal = EgressJournal(ctx.settings.db_path, ctx.run_id, "feedback")
    outcome = analyze_feedback(items, ctx.settings, ctx.audit, ctx.run_id, cache, journal=journal)
    rows = outcome.rows.merge(
        pd.DataFrame({"feedback_id": feedback["feedback_id"], "anonymized_text": anonymized.to_numpy(),
                      "pii_counts": pii_counts.to_numpy(), "source_sha256": feedback["source_sha256"]}),
        on="feedback_id", how="left")
    rows["run_id"] = ctx.run_id
    ctx.audit.event("feedback_analysed", items=len(rows), **{k: v for k, v in outcome.stats.items()})

    def write(con):
        db.insert_df(con, "feedback_analysis", rows)
        if len(outcome.new_cache):
            con.register("cache_frame", outcome.new_cache)
            con.execute("INSERT INTO analysis_cache SELECT * FROM cache_frame ON CONFLICT DO NOTHING")
            con.unregister("cache_frame")

    ctx.commit(write, replace_tables=("feedback_analysis",))
    return {"run_id": ctx.run_id, "feedback": len(feedback), "anonymized": int(len(todo)), "reused": int(hit.sum()),
            "entities_replaced": dict(entity_totals), "external_llm_allowed_customers": int(external.sum()),
            "status_counts": rows["status"].value_counts().to_dict(), "llm": outcome.stats, "rows": rows}
