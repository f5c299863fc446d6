"""Stage 2: the feedback NLP agent — anonymize every text, then analyse it (LLM or offline).

Customers without `external_llm` consent, and texts mainly in a language the allow rule cannot
vet (egress/languages.py), are analysed by the offline analyzer only. Texts whose
source (text + the customer's identifiers) is unchanged since an earlier run reuse that run's
anonymized text, so a re-run does not anonymize or send anything twice.
"""
from __future__ import annotations

import json
from collections import Counter

import pandas as pd

from .. import audit as audit_mod
from .. import cluster, consent, db, incremental
from ..anonymize import KnownIdentifiers, anonymize_pairs
from ..egress.languages import unvetted_language
from ..llm import EgressJournal, FeedbackItem, analyze_feedback
from ..inputs.customers import name_part
from ..vocab import IDENTIFIER_ROLES
from .context import customer_roles, install_owner_words, latest_run_with, open_stage
from .params import FeedbackParams


def _known_identifiers(customers: pd.DataFrame, roles: dict[str, str]) -> dict[str, KnownIdentifiers]:
    """customer id -> the customer's own identifiers, by column role (whatever the columns are called).

    Name-part columns (first name, surname, ...) together make the full name, matched in all
    its variants; without them the first name column is the full name. Every other name,
    a second e-mail or phone column, every other identifier column and the customer id are
    matched as exact values.
    """
    by_role = {role: [c for c, r in roles.items() if r == role] for role in IDENTIFIER_ROLES}
    parts = [c for c in by_role["name"] if name_part(c)]
    full = parts or by_role["name"][:1]
    other_names = [c for c in by_role["name"] if c not in full]

    # Column by column (a row loop over pandas values costs seconds at 100,000 customers):
    # each value as stripped text, None when missing or blank.
    used = dict.fromkeys(full + other_names + by_role["email"] + by_role["phone"] + by_role["identifier"])
    values = {c: [v if isinstance(v, str) and v else None
                  for v in customers[c].astype("string").str.strip().astype(object).tolist()] for c in used}

    def present(i: int, columns: list[str]) -> list[str]:
        return [values[c][i] for c in columns if values[c][i] is not None]

    known = {}
    for i, customer_id in enumerate(customers["customer_id"].tolist()):
        names, emails, phones = present(i, full), present(i, by_role["email"]), present(i, by_role["phone"])
        extra = tuple(present(i, other_names) + emails[1:] + phones[1:] + present(i, by_role["identifier"])) \
            + (str(customer_id),)
        known[customer_id] = KnownIdentifiers(
            name=" ".join(names) or None, email=emails[0] if emails else None,
            phone=phones[0] if phones else None, extra=extra)
    return known


def _source_hash(frame: pd.DataFrame, known: dict[str, KnownIdentifiers]) -> list[str]:
    return [audit_mod.sha256_hex(f"{t}\x1f{known[c]!r}") for t, c in zip(frame["text_sha256"], frame["customer_id"])]


def run(params: FeedbackParams) -> dict:
    ctx = open_stage(params)
    with ctx.reading() as con:
        install_owner_words(con)
        feedback = con.execute("SELECT feedback_id, customer_id, text, text_sha256 FROM feedback ORDER BY feedback_id").df()
        roles = {c: r for c, r in customer_roles(con).items() if r in IDENTIFIER_ROLES}
        cols = ", ".join(db.ident(c) for c in ["customer_id", *roles])
        customers = con.execute(f"SELECT {cols} FROM customers WHERE customer_id IN "
                                "(SELECT DISTINCT customer_id FROM feedback)").df() \
            if db.table_exists(con, "customers") else pd.DataFrame(columns=["customer_id", *roles])
        external = consent.check(con, feedback["customer_id"].unique(), "external_llm", ctx.audit, ctx.refs)
        # Only the newest analysed run is consulted, so the lookup does not grow with history.
        previous = con.execute(
            "SELECT DISTINCT ON (source_sha256) source_sha256, anonymized_text, pii_counts, "
            f"{', '.join(incremental.REUSED_ANALYSIS_COLUMNS)} FROM feedback_analysis "
            "WHERE run_id = ? AND source_sha256 IS NOT NULL", [latest_run_with(con, "feedback_analysis", ctx.run_id)]
        ).df()
        cache = {}
        if ctx.settings.llm_provider != "local":
            cache = {k: json.loads(v) for k, v in con.execute("SELECT cache_key, result FROM analysis_cache").fetchall()}

    known = _known_identifiers(customers, roles)
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
    # Per customer partitions on the run's Dask cluster (in this process for a small batch).
    todo_customers = feedback.loc[todo, "customer_id"].tolist()
    with ctx.step("anonymizing feedback", total=len(todo), unit="texts") as step:
        results = cluster.map_partitions(
            anonymize_pairs, list(zip(feedback.loc[todo, "text"].astype(str).tolist(),
                                      [known.get(c) for c in todo_customers])), todo_customers, ctx.settings,
            on_progress=step.advance)
    anonymized[todo] = [r.text for r in results]
    pii_counts[todo] = [json.dumps(r.counts, sort_keys=True) for r in results]
    for r in results:
        entity_totals.update(r.counts)
    ctx.audit.event("anonymized", texts=int(len(todo)), reused=int(hit.sum()), entities=dict(entity_totals))

    may_send = external.to_dict()  # a dict lookup per item, not a pandas one
    allowed = feedback["customer_id"].map(may_send).fillna(False).astype(bool).to_numpy()
    # Incremental: an unchanged text analysed offline last time, and offline again now, keeps that analysis.
    kept = incremental.reusable_offline_analyses(feedback, previous, allowed, ctx.settings.llm_provider)
    fresh = ~kept["reused"].to_numpy()
    # A text mainly in a language the allow rule cannot vet stays home: judged on the text as
    # written (the anonymizer has made its unvetted words placeholders, which have no language).
    remote = ctx.settings.llm_provider != "local"
    share = float(ctx.settings.egress_min_vetted_share)
    items = [FeedbackItem(f, c, t, bool(a), unvetted_language(raw, share) if a and remote else None)
             for f, c, t, a, raw in zip(feedback["feedback_id"][fresh], feedback["customer_id"][fresh],
                                        anonymized[fresh], allowed[fresh], feedback["text"][fresh].astype(str))]
    # Write-ahead: llm_egress rows and cached answers are written by the journal as requests go.
    journal = EgressJournal(ctx.settings.db_path, ctx.run_id, "feedback")
    with ctx.step(f"analysing {len(items):,} feedback items"):
        outcome = analyze_feedback(items, ctx.settings, ctx.audit, ctx.run_id, cache, journal=journal)
    analysis = pd.concat([kept.loc[~fresh, outcome.rows.columns], outcome.rows], ignore_index=True) \
        if (~fresh).any() else outcome.rows
    ctx.audit.event("analysis_reused", items=int((~fresh).sum()), analysed=int(fresh.sum()))
    # Both keys as text: with no feedback at all (a customers-only run, a header-only file, or only
    # unknown customer ids) the analysis frame is empty and pandas types its key float64.
    rows = analysis.astype({"feedback_id": str}).merge(
        pd.DataFrame({"feedback_id": feedback["feedback_id"].astype(str), "anonymized_text": anonymized.to_numpy(),
                      "pii_counts": pii_counts.to_numpy(), "source_sha256": feedback["source_sha256"]}),
        on="feedback_id", how="left")
    rows["run_id"] = ctx.run_id
    cluster.record_steps(ctx.audit)  # where the per-customer work ran
    ctx.audit.event("feedback_analysed", items=len(rows), **{k: v for k, v in outcome.stats.items()})

    def write(con):
        db.insert_df(con, "feedback_analysis", rows)
        if len(outcome.new_cache):
            con.register("cache_frame", outcome.new_cache)
            con.execute("INSERT INTO analysis_cache BY NAME SELECT * FROM cache_frame ON CONFLICT DO NOTHING")
            con.unregister("cache_frame")

    ctx.commit(write, replace_tables=("feedback_analysis",), digest_tables=("llm_egress",))
    return {"run_id": ctx.run_id, "feedback": len(feedback), "anonymized": int(len(todo)), "reused": int(hit.sum()),
            "analyses_reused": int((~fresh).sum()),
            "entities_replaced": dict(entity_totals), "external_llm_allowed_customers": int(external.sum()),
            "status_counts": rows["status"].value_counts().to_dict(), "llm": outcome.stats, "rows": rows}
