"""Stage 2: the feedback NLP agent — anonymize every text, then analyse it (LLM or offline).

Customers without `external_llm` consent, and texts mainly in a language the allow rule cannot
vet (egress/languages.py), are analysed by the offline analyzer only. Texts whose
source (text + the customer's identifiers) is unchanged since an earlier run reuse that run's
anonymized text, so a re-run does not anonymize or send anything twice.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd

from .. import cluster, consent, db, incremental
from ..anonymize import KnownIdentifiers, anonymize_pairs
from ..egress.languages import unvetted_language
from ..llm import EgressJournal, FeedbackItem, analyze_feedback
from ..inputs.customers import name_part
from ..vocab import IDENTIFIER_ROLES
from .context import customer_roles, install_owner_words, open_stage, previous_run_with
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


def _source_sql(roles: dict[str, str]) -> str:
    """SQL over `feedback f LEFT JOIN customers c`: the sha256 of what a text's anonymization
    depends on, its text (sha256) and the customer's identifier columns by role. Computed in the
    store, so an unchanged text costs no Python at all."""
    fields = ", ".join(f"{db.literal(c + ':' + r)}: c.{db.ident(c)}" for c, r in roles.items())
    identifiers = f"CAST(to_json({{{fields}}}) AS VARCHAR)" if roles else "''"
    return f"sha256(f.text_sha256 || chr(31) || CAST(f.customer_id AS VARCHAR) || chr(31) || coalesce({identifiers}, ''))"


# feedback_analysis columns of this run's rows (table order).
_ROW_COLUMNS = ("run_id", "feedback_id", "customer_id", "anonymized_text", *incremental.REUSED_ANALYSIS_COLUMNS,
                "pii_counts", "source_sha256")


def run(params: FeedbackParams) -> dict:
    ctx = open_stage(params)
    with ctx.reading() as con:
        install_owner_words(con)
        roles = {c: r for c, r in customer_roles(con).items() if r in IDENTIFIER_ROLES}
        has_customers = db.table_exists(con, "customers")
        feedback = con.execute(
            f"SELECT f.feedback_id, f.customer_id, {_source_sql(roles if has_customers else {})} AS source_sha256 "
            "FROM feedback f " + ("LEFT JOIN customers c ON c.customer_id = f.customer_id " if has_customers else "")
            + "ORDER BY f.feedback_id").df()
        external = consent.check(con, feedback["customer_id"].unique(), "external_llm", ctx.audit, ctx.refs)
        # Only the newest earlier analysed run is consulted, so the lookup does not grow with history.
        previous_run = previous_run_with(con, "feedback_analysis", ctx.run_id)
        previous = con.execute(
            f"SELECT DISTINCT ON (source_sha256) source_sha256, {', '.join(incremental.REUSED_ANALYSIS_COLUMNS)} "
            "FROM feedback_analysis WHERE run_id = ? AND source_sha256 IS NOT NULL", [previous_run]).df()
        cache = {}
        if ctx.settings.llm_provider != "local":
            cache = {k: json.loads(v) for k, v in con.execute("SELECT cache_key, result FROM analysis_cache").fetchall()}

    may_send = external.to_dict()  # a dict lookup per item, not a pandas one
    allowed = feedback["customer_id"].map(may_send).fillna(False).astype(bool).to_numpy()
    hit = feedback["source_sha256"].isin(previous["source_sha256"]).to_numpy()
    # Incremental: an unchanged text analysed offline last time, and offline again now, keeps that
    # analysis; its whole row is carried over inside the store at commit (`carry`).
    kept = incremental.reusable_offline_analyses(feedback, previous, allowed, ctx.settings.llm_provider)
    carried = kept["reused"].to_numpy()
    fresh = ~carried
    # Texts to analyse: unchanged ones keep their anonymized text (read for them alone), the
    # others are anonymized now.
    todo = np.flatnonzero(~hit)
    # Texts that may leave are judged by their language as written (egress/languages.py).
    may_leave = fresh & allowed & (ctx.settings.llm_provider != "local")
    with ctx.reading() as con:
        texts = _texts_of(con, feedback, fresh, hit, previous_run, may_leave)
        known = _known_identifiers(_identifier_rows(con, roles, feedback["customer_id"].iloc[todo]), roles) \
            if len(todo) else {}
    anonymized = pd.Series(texts["anonymized_text"], index=feedback.index, dtype=object)
    pii_counts = pd.Series(texts["pii_counts"], index=feedback.index, dtype=object)
    entity_totals: Counter = Counter()
    # Per customer partitions on the run's Dask cluster (in this process for a small batch).
    todo_customers = feedback["customer_id"].iloc[todo].tolist()
    with ctx.step("anonymizing feedback", total=len(todo), unit="texts") as step:
        results = cluster.map_partitions(
            anonymize_pairs, list(zip(texts["text"][todo].astype(str).tolist(),
                                      [known.get(c) for c in todo_customers])), todo_customers, ctx.settings,
            on_progress=step.advance)
    anonymized.iloc[todo] = [r.text for r in results]
    pii_counts.iloc[todo] = [json.dumps(r.counts, sort_keys=True) for r in results]
    for r in results:
        entity_totals.update(r.counts)
    ctx.audit.event("anonymized", texts=int(len(todo)), reused=int(hit.sum()), entities=dict(entity_totals))

    # A text mainly in a language the allow rule cannot vet stays home: judged on the text as
    # written (the anonymizer has made its unvetted words placeholders, which have no language).
    share = float(ctx.settings.egress_min_vetted_share)
    items = [FeedbackItem(f, c, t, bool(a), unvetted_language(str(raw or ""), share) if judge else None)
             for f, c, t, a, raw, judge in zip(feedback["feedback_id"][fresh], feedback["customer_id"][fresh],
                                               anonymized[fresh], allowed[fresh], texts["text"][fresh],
                                               may_leave[fresh])]
    # Write-ahead: llm_egress rows and cached answers are written by the journal as requests go.
    journal = EgressJournal(ctx.settings.db_path, ctx.run_id, "feedback")
    with ctx.step(f"analysing {len(items):,} feedback items"):
        outcome = analyze_feedback(items, ctx.settings, ctx.audit, ctx.run_id, cache, journal=journal)
    ctx.audit.event("analysis_reused", items=int(carried.sum()), analysed=int(fresh.sum()))
    # Both keys as text: with no feedback at all (a customers-only run, a header-only file, or only
    # unknown customer ids) the analysis frame is empty and pandas types its key float64.
    new_rows = outcome.rows.astype({"feedback_id": str}).merge(
        pd.DataFrame({"feedback_id": feedback["feedback_id"][fresh].astype(str), "anonymized_text": anonymized[fresh],
                      "pii_counts": pii_counts[fresh], "source_sha256": feedback["source_sha256"][fresh]}),
        on="feedback_id", how="left")
    new_rows["run_id"] = ctx.run_id
    cluster.record_steps(ctx.audit)  # where the per-customer work ran
    ctx.audit.event("feedback_analysed", items=len(feedback), **{k: v for k, v in outcome.stats.items()})
    keys = feedback.loc[carried, ["feedback_id", "customer_id", "source_sha256"]]

    def write(con):
        db.insert_df(con, "feedback_analysis", new_rows)
        carry(con, ctx.run_id, previous_run, keys)
        db.insert_new_keys(con, "analysis_cache", "cache_key", outcome.new_cache)

    ctx.commit(write, replace_tables=("feedback_analysis",), digest_tables=("llm_egress",))
    with ctx.reading() as con:  # the run's rows as the notebook shows them (aggregates only)
        rows = con.execute("SELECT feedback_id, customer_id, sentiment, sentiment_label, topics, status "
                           "FROM feedback_analysis WHERE run_id = ?", [ctx.run_id]).df()
    return {"run_id": ctx.run_id, "feedback": len(feedback), "anonymized": int(len(todo)), "reused": int(hit.sum()),
            "analyses_reused": int(carried.sum()),
            "entities_replaced": dict(entity_totals), "external_llm_allowed_customers": int(external.sum()),
            "status_counts": rows["status"].value_counts().to_dict(), "llm": outcome.stats, "rows": rows}


def carry(con, run_id: str, previous_run: str | None, keys: pd.DataFrame) -> int:
    """Copy the previous run's rows of unchanged texts (`keys`: feedback_id, customer_id,
    source_sha256) into this run, inside the store: the text, its anonymization and analysis
    never pass through Python."""
    if previous_run is None or keys.empty:
        return 0
    source = ", ".join(f"p.{db.ident(c)}" for c in _ROW_COLUMNS[3:-1])
    con.register("_carried_keys", keys)
    try:
        con.execute(
            f"""INSERT INTO feedback_analysis ({', '.join(db.ident(c) for c in _ROW_COLUMNS)})
                SELECT ?, k.feedback_id, k.customer_id, {source}, k.source_sha256 FROM _carried_keys k
                JOIN (SELECT DISTINCT ON (source_sha256) * FROM feedback_analysis WHERE run_id = ?) p
                  USING (source_sha256)""", [run_id, previous_run])
    finally:
        con.unregister("_carried_keys")
    return len(keys)


def _texts_of(con, feedback: pd.DataFrame, fresh: np.ndarray, hit: np.ndarray, previous_run: str | None,
              as_written: np.ndarray) -> pd.DataFrame:
    """Per feedback row, in order: the raw `text` of a changed text (to anonymize) or of a row in
    `as_written` (judged as written), and the earlier `anonymized_text` and `pii_counts` of an
    unchanged one that is analysed afresh; None where not needed (a carried row is copied in the
    store)."""
    wanted = pd.DataFrame({"pos": np.arange(len(feedback)), "feedback_id": feedback["feedback_id"].to_numpy(),
                           "source_sha256": feedback["source_sha256"].to_numpy(), "raw": ~hit | as_written,
                           "earlier": hit & fresh})
    wanted = wanted[wanted["raw"] | wanted["earlier"]]
    out = pd.DataFrame({"text": pd.Series([None] * len(feedback), dtype=object),
                        "anonymized_text": pd.Series([None] * len(feedback), dtype=object),
                        "pii_counts": pd.Series([None] * len(feedback), dtype=object)})
    if wanted.empty:
        return out
    con.register("_wanted", wanted)
    try:
        found = con.execute(
            # Equality joins only: a condition such as `w.raw AND f.feedback_id = ...` in a LEFT
            # JOIN makes DuckDB compare every pair of rows.
            """SELECT w.pos, CASE WHEN w.raw THEN f.text END AS text,
                      CASE WHEN w.earlier THEN p.anonymized_text END AS anonymized_text,
                      CASE WHEN w.earlier THEN p.pii_counts END AS pii_counts FROM _wanted w
               LEFT JOIN feedback f ON f.feedback_id = w.feedback_id
               LEFT JOIN (SELECT DISTINCT ON (source_sha256) source_sha256, anonymized_text, pii_counts
                          FROM feedback_analysis WHERE run_id = ?) p ON p.source_sha256 = w.source_sha256
               ORDER BY w.pos""", [previous_run]).df()
    finally:
        con.unregister("_wanted")
    positions = found["pos"].to_numpy()
    for column in out.columns:
        out.loc[positions, column] = found[column].to_numpy(dtype=object)
    return out


def _identifier_rows(con, roles: dict[str, str], customer_ids: pd.Series) -> pd.DataFrame:
    """The identifier columns of the given customers (those whose texts are anonymized now)."""
    cols = ", ".join(f"c.{db.ident(c)}" for c in ["customer_id", *roles])
    if not db.table_exists(con, "customers"):
        return pd.DataFrame(columns=["customer_id", *roles])
    con.register("_ids", pd.DataFrame({"customer_id": customer_ids.drop_duplicates().astype(str).to_numpy()}))
    try:
        return con.execute(f"SELECT {cols} FROM customers c JOIN _ids i ON CAST(c.customer_id AS VARCHAR) = i.customer_id"
                           ).df()
    finally:
        con.unregister("_ids")
