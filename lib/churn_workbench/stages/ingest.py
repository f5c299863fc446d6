"""Stage 1: load customers, feedback and consent (synthetic or files) into DuckDB, all or nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import audit as audit_mod
from .. import db, inputs, synthetic
from ..config import load_settings
from ..inputs.load import load_inputs
from ..errors import UsageError
from ..vocab import IDENTIFIER_ROLES, PURPOSES
from ..subjects import retention, tombstones
from .context import open_stage
from .params import IngestParams


def fingerprint(synthetic_n: int, seed: int, customers_path: str, feedback_path: str,
                consent_path: str, data_config_path: str) -> dict:
    """What the inputs are, by content: file sha256s, or the synthetic generator's parameters."""
    if customers_path:
        return {name: {"path": str(Path(p).resolve()), "sha256": audit_mod.file_sha256(p)}
                for name, p in (("customers", customers_path), ("feedback", feedback_path),
                                ("consent", consent_path), ("data_config", data_config_path)) if p}
    return synthetic.source_fingerprint(synthetic_n, seed)


def refuse_hand_run_over_imported_data(params: IngestParams) -> None:
    """Opened by hand with its defaults (no run id, no customers file), the notebook would replace
    the store's customers with synthetic ones. That is refused, in one line, when the store holds
    customers imported from a file: notebook defaults never overwrite data they did not create."""
    if params.run_id or params.customers_path:
        return
    settings = load_settings(db_path=params.db_path)
    if not settings.db_path.exists():
        return
    con = db.connect(settings.db_path, read_only=True, wait_s=30)
    try:
        row = con.execute("SELECT details FROM audit_log WHERE event_type IN ('data_ingested', 'data_unchanged') "
                          "ORDER BY seq DESC LIMIT 1").fetchone() if db.table_exists(con, "audit_log") else None
    finally:
        con.close()
    imported = (json.loads(row[0]).get("sources") or {}).get("customers") if row else None
    if imported:
        raise UsageError(
            f"01_ingest opened by hand: {settings.db_path} holds customers imported from {Path(imported['path']).name}, "
            f"and with customers_path empty this notebook would replace them with {params.synthetic_n:,} synthetic "
            "customers; set customers_path (and feedback_path, consent_path, data_config_path) to your files, or db_path "
            "to a scratch database, e.g. '../data/scratch/workbench.duckdb'")


def run(params: IngestParams) -> dict:
    refuse_hand_run_over_imported_data(params.check())
    ctx = open_stage(params)
    p = params
    sources = fingerprint(p.synthetic_n, p.seed, p.customers_path, p.feedback_path, p.consent_path, p.data_config_path)
    with ctx.reading() as con:
        last = con.execute("SELECT input_sha256, summary FROM ingest_log ORDER BY ingested_at DESC LIMIT 1").fetchone()
        # Erasure tombstones and the feedback retention period filter what is imported, so a
        # change to either makes the same files a different input.
        filters = {"tombstones": tombstones.state_digest(con),
                   "feedback_retention_days": ctx.settings.retention_feedback_days}
    input_sha256 = audit_mod.sha256_hex(audit_mod.canonical_json(
        {**{k: v["sha256"] for k, v in sources.items()}, **({"filters": filters} if _filtering(filters) else {})}))
    if last and last[0] == input_sha256:
        # The same inputs as the store already holds: nothing to parse or rewrite.
        summary = dict(json.loads(last[1]), run_id=ctx.run_id, unchanged=True, consent_records_added=0)
        ctx.audit.event("data_unchanged", input_sha256=input_sha256, sources=sources)
        ctx.commit(lambda con: _log_ingest(con, ctx.run_id, input_sha256, summary), replace_tables=("ingest_log",))
        return summary
    # What the last ingest read, file by file (its summary; an unchanged ingest carries it over).
    before = json.loads(last[1]) if last else {}
    consent_stored = bool(p.consent_path) and before.get("filters") == filters and \
        (before.get("sources") or {}).get("consent", {}).get("sha256") == sources.get("consent", {}).get("sha256")
    with ctx.step("reading and checking the inputs"):
        table, feedback, consent = load_inputs(p.synthetic_n, p.seed, p.customers_path, p.feedback_path,
                                               p.consent_path, p.data_config_path, consent_stored=consent_stored)
    customers = table.frame
    # The data owner's allow-list for the egress allow rule, read by the stages that send.
    allow_words = inputs.load_data_config(p.data_config_path or None).allow_words if p.customers_path else ()
    # Erased customers stay out (documented in the README's data-protection officer's guide).
    with ctx.reading() as con:
        customers, feedback, consent, stripped = tombstones.strip(con, ctx.refs, customers, feedback, consent)
    if any(stripped.values()):
        ctx.audit.event("tombstoned_stripped", "stripped", **stripped)
    in_period = retention.feedback_kept(feedback, ctx.settings)
    n_expired = int((~in_period).sum())
    feedback = feedback.loc[in_period.to_numpy()]
    known = set(customers["customer_id"])
    orphan = ~feedback["customer_id"].isin(known)
    n_orphans = int(orphan.sum())
    feedback = feedback.loc[~orphan].copy()
    feedback["text_sha256"] = [audit_mod.sha256_hex(t) for t in feedback["text"].astype(str)]
    feedback["run_id"] = ctx.run_id
    consent = consent.copy()
    consent["run_id"] = ctx.run_id
    columns = pd.DataFrame({"column_name": list(table.roles), "role": list(table.roles.values()),
                            "dtype": [str(customers[c].dtype) if c in customers else "" for c in table.roles],
                            "run_id": ctx.run_id, "leakage_allowed": [c in table.leakage_allowed for c in table.roles]})
    ctx.audit.event("data_ingested", customers=len(customers), feedback=len(feedback), consent_records=len(consent),
                    consent_file_unchanged=consent_stored,
                    feedback_orphans_dropped=n_orphans, sources=sources, tombstoned_stripped=stripped,
                    feedback_past_retention=n_expired,
                    roles={role: sorted(c for c, r in table.roles.items() if r == role)
                           for role in (*IDENTIFIER_ROLES, "excluded", "sensitive", "label")})

    def write(con):
        con.register("customers_frame", customers)
        con.execute("CREATE OR REPLACE TABLE customers AS SELECT * FROM customers_frame")
        con.unregister("customers_frame")
        con.execute("DELETE FROM customer_columns")
        con.execute("DELETE FROM feedback")
        con.execute("DELETE FROM egress_allow_words")
        if allow_words:
            db.insert_df(con, "egress_allow_words", pd.DataFrame({"word": list(allow_words), "run_id": ctx.run_id}))
        db.insert_df(con, "customer_columns", columns)
        db.insert_df(con, "feedback", feedback[["feedback_id", "customer_id", "text", "created_at", "channel",
                                                "text_sha256", "run_id"]])
        # The register keeps its history: only records not already present are appended.
        con.register("consent_frame", consent[["customer_id", "purpose", "granted", "recorded_at", "source", "run_id"]])
        added = con.execute(
            """INSERT INTO consent BY NAME SELECT f.* FROM consent_frame f WHERE NOT EXISTS (
                 SELECT 1 FROM consent c WHERE c.customer_id = f.customer_id AND c.purpose = f.purpose
                 AND c.granted = f.granted AND c.recorded_at IS NOT DISTINCT FROM f.recorded_at)"""
        ).fetchone()[0]
        con.unregister("consent_frame")
        summary["consent_records_added"] = int(added)
        _log_ingest(con, ctx.run_id, input_sha256, summary)

    summary = {"run_id": ctx.run_id, "customers": len(customers), "labelled": int(customers["churned"].notna().sum()),
               "feedback": len(feedback), "feedback_orphans_dropped": n_orphans,
               "consent_records": before.get("consent_records", 0) if consent_stored else len(consent),
               "consent_file_unchanged": consent_stored, "sources": sources, "filters": filters,
               "tombstoned_stripped": stripped, "feedback_past_retention": n_expired,
               "purposes": list(PURPOSES), "features": sorted(c for c, r in table.roles.items() if r == "feature")}
    # customers/feedback are the current snapshot, so they are replaced, not run-scoped.
    ctx.commit(write, replace_tables=("ingest_log",))
    return dict(summary, unchanged=False)


def _log_ingest(con, run_id: str, input_sha256: str, summary: dict) -> None:
    con.execute("INSERT INTO ingest_log (run_id, input_sha256, ingested_at, summary) VALUES (?, ?, now(), ?)",
                [run_id, input_sha256, json.dumps({k: v for k, v in summary.items() if k != "run_id"})])


def _filtering(filters: dict) -> bool:
    """Whether any import filter is active (without one, fingerprints stay as they always were)."""
    return filters["feedback_retention_days"] is not None or filters["tombstones"] != tombstones.EMPTY_STATE
