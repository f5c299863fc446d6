"""Publishing the dashboard's read-only snapshot after every run (`data.load` reads it).

DuckDB lets one process hold the file read-write and then refuses every other process, even
read-only ones. So the dashboard never opens the workbench database. At the end of every run
(success or failure) the pipeline calls `publish`, which exports what the dashboard shows to
Parquet files in a new generation directory, then switches the one-line `CURRENT` pointer to it
with an atomic `os.replace`. A reader resolves the pointer once and keeps reading its own
generation, so it always sees one consistent run state; old generations are removed only after
a grace period.

    snapshot/CURRENT                      "gen-20260102T080312Z-1234"
    snapshot/gen-20260102T080312Z-1234/   meta.json (verify status, counts) + one .parquet per table

The snapshot is minimised, not a copy: no customer name, email, phone or other identifier
column, no raw feedback text (the dashboard shows the anonymized text from `feedback_analysis`),
no consent history beyond the record that decides. Model cards and plots are embedded as blobs,
run manifests as JSON, and the result of the workspace's `verify` at publish time is in meta.json.
Parquet because it is written several times faster than DuckDB's compressed tables: 1M
customers publish in a few seconds.

`load(snapshot_dir)` returns a `DashboardData` whose methods are the dashboard's queries; every
one returns plain Python / pandas values, so they are unit-tested without a browser.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .. import consent, db, runs, verification
from ..boundary import paths
from ..vocab import NOT_SCORED, PURPOSES, sentiment_label_sql
from ..workspace import Workspace

POINTER = "CURRENT"
META = "meta.json"
SNAPSHOT_VERSION = 1
TABLES = ("runs", "stage_runs", "model_registry", "run_volumes", "trend", "customer_view", "customers",
          "predictions_latest", "actions_latest", "feedback_latest", "llm_egress", "audit_log", "run_manifests",
          "model_assets")
# The Effect view (issue 17): aggregated counts and Qini points per run with outcomes, no customer rows.
TABLES += ("effect_counts", "effect_qini")
KEEP_OLD_GENERATIONS_S = 3600  # a dashboard still reading an older generation has an hour to reload
KEEP_PREVIOUS_GENERATIONS = 2  # ... unless runs come so fast that disk use would pile up
# Customer columns the dashboard may show: features and the label. Identifier, excluded and
# consent columns never enter the snapshot, whatever their name.
CUSTOMER_ROLES_SHOWN = ("feature", "label")
MODEL_ASSET_SUFFIXES = (".md", ".png", ".json", ".csv")
MODEL_ASSET_MAX_BYTES = 2_000_000
# Indicative list prices in USD per million (prompt, completion) tokens, used only for the
# "estimated cost" column. Keyed by (provider, model); a provider-wide entry uses model "*".
LLM_PRICES_USD_PER_MTOK: dict[tuple[str, str], tuple[float, float]] = {
    ("local", "*"): (0.0, 0.0),
    ("groq", "openai/gpt-oss-20b"): (0.10, 0.50),
    ("groq", "openai/gpt-oss-120b"): (0.15, 0.75),
}


def republish(ws: Workspace, drop_old: bool = False) -> Path:
    """The workspace's change hook: a fresh snapshot; with `drop_old`, every older generation is
    removed at once (after an erasure they still show the person)."""
    generation = publish(ws)
    if drop_old:
        drop_generations_except(ws.snapshot_dir, generation)
    return generation


def drop_generations_except(snapshot_dir: str | Path, keep: Path) -> None:
    """Remove every generation but `keep` at once, instead of after the usual grace period (after
    an erasure, older generations still show the person)."""
    for path in Path(snapshot_dir).iterdir():
        if path != keep and (path.name.startswith("gen-") or path.name.startswith(".building-")):
            if path.is_symlink():
                path.unlink()  # a link planted among the generations: the link goes, never its target
            elif path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def current_generation(snapshot_dir: str | Path) -> Path | None:
    """The generation directory `CURRENT` points to, or None if nothing was published yet (or
    `CURRENT` names something outside the snapshot folder, or is reached through a link:
    `refused` says why)."""
    pointer = Path(snapshot_dir) / POINTER
    if pointer.is_symlink():
        return None
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    if not name or os.path.basename(name) != name or (Path(snapshot_dir) / name).is_symlink():
        return None
    return Path(snapshot_dir) / name


def refused(snapshot_dir: str | Path) -> str | None:
    """Why the current generation may not be read, in one line, or None. The workbench writes
    `CURRENT` and every generation as plain entries of the snapshot folder; a link there (to
    anywhere) was put there by someone else, and what it points to is not the workbench's."""
    pointer = Path(snapshot_dir) / POINTER
    if pointer.is_symlink():
        return f"{pointer} is a symbolic link (to {os.readlink(pointer)}), not the pointer the workbench writes"
    try:
        name = pointer.read_text().strip()
    except (FileNotFoundError, IsADirectoryError):
        return None
    generation = Path(snapshot_dir) / name
    if name and os.path.basename(name) == name and generation.is_symlink():
        return (f"the snapshot generation {generation} is a symbolic link (to {os.readlink(generation)}), "
                "not a generation the workbench published")
    return None


# --------------------------------------------------------------------------------------------
# publish
# --------------------------------------------------------------------------------------------

def publish(ws: Workspace, snapshot_dir: str | Path | None = None) -> Path:
    """Export a consistent, minimised snapshot of the workspace's database and make it current
    atomically (in `snapshot_dir`, default the workspace's snapshot folder).

    Call it when no other connection to the database is open (the end of a run). Records the
    result of the workspace's `verify`. Returns the new generation directory.
    A missing database yields an empty snapshot (the dashboard then says "run `make run`").
    """
    started = time.monotonic()
    db_path = ws.db_path
    snapshot_dir = Path(snapshot_dir) if snapshot_dir else ws.snapshot_dir
    # The snapshot holds customers' names, e-mails and phones: folders 0700, files 0600 (the
    # dashboard reads them as the same user).
    ws.folder(snapshot_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    generation = snapshot_dir / f"gen-{stamp}-{os.getpid()}"
    building = snapshot_dir / f".building-{generation.name}"
    verify = _verify(ws) if db_path.exists() else None
    try:
        building.mkdir(mode=paths.PRIVATE_DIR)
        con = db.in_memory()
        try:
            counts = _export(con, ws, building)
        finally:
            con.close()
        meta = _meta(db_path, verify, counts, time.monotonic() - started)
        (building / META).write_text(json.dumps(meta, indent=2, default=str))
        paths.make_private(*(f for f in building.rglob("*") if f.is_file()))
        os.rename(building, generation)
        tmp_pointer = snapshot_dir / f".{POINTER}.{os.getpid()}.tmp"
        tmp_pointer.write_text(generation.name + "\n")
        os.replace(tmp_pointer, snapshot_dir / POINTER)  # atomic: readers see the old or the new one
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _remove_old_generations(snapshot_dir, keep=generation)
    return generation


def _verify(ws: Workspace) -> dict:
    try:
        result = verification.verify(ws)
        return {"ok": result.ok, "problems": result.problems, "events": result.events,
                "runs_checked": result.runs_checked, "summary": str(result)}
    except Exception as exc:  # a verify that cannot run is a failed verify, shown as red
        return {"ok": False, "problems": [f"verify could not run: {type(exc).__name__}: {exc}"],
                "events": 0, "runs_checked": 0, "summary": f"audit FAILED: verify could not run ({exc})"}


def _meta(db_path: Path, verify: dict | None, counts: dict, seconds: float) -> dict:
    verify = verify or {"ok": False, "problems": ["no database yet"], "events": 0, "runs_checked": 0,
                        "summary": "no database yet: nothing to verify"}
    return {"snapshot_version": SNAPSHOT_VERSION,
            "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source_db": str(db_path), "source_exists": db_path.exists(), "verify": verify,
            "counts": counts, "build_seconds": round(seconds, 3)}


def _remove_old_generations(snapshot_dir: Path, keep: Path) -> None:
    """Keep the current generation and up to KEEP_PREVIOUS_GENERATIONS younger than the grace
    period (dashboards may still read them); remove the rest and any abandoned build."""
    now = time.time()
    previous = sorted((p for p in snapshot_dir.iterdir() if p.is_dir() and p.name.startswith("gen-") and p != keep),
                      key=lambda p: p.name, reverse=True)
    for rank, path in enumerate(previous):
        if rank >= KEEP_PREVIOUS_GENERATIONS or now - path.stat().st_mtime > KEEP_OLD_GENERATIONS_S:
            shutil.rmtree(path, ignore_errors=True)
    for path in snapshot_dir.glob(".building-*"):
        if now - path.stat().st_mtime > KEEP_OLD_GENERATIONS_S:
            shutil.rmtree(path, ignore_errors=True)


def _columns(con, catalog: str) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = 'main' ORDER BY table_name, ordinal_position", [catalog]
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        out.setdefault(table, {})[column] = dtype
    return out


def _export(con, ws: Workspace, out: Path) -> dict:
    """Build every snapshot table from the source (or empty stand-ins) and write it to Parquet."""
    con.execute("ATTACH ':memory:' AS schema_ref")
    con.execute("USE schema_ref")
    db.migrate(con)  # the current schema, empty: stands in for tables/columns the source lacks
    expected = _columns(con, "schema_ref")
    source: dict[str, dict[str, str]] = {}
    if ws.db_path.exists():
        con.execute(f"ATTACH {db.literal(ws.db_path)} AS src (READ_ONLY)")
        source = _columns(con, "src")
    try:
        for table, cols in expected.items():  # v_<table>: the source table with every expected column
            if table in source:
                have = source[table]
                extra = [f"NULL::{dtype} AS {db.ident(c)}" for c, dtype in cols.items() if c not in have]
                select = ", ".join(["*", *extra])
                con.execute(f"CREATE TEMP VIEW v_{table} AS SELECT {select} FROM src.main.{table}")
            else:
                con.execute(f"CREATE TEMP VIEW v_{table} AS SELECT * FROM schema_ref.main.{table}")
        shown = _shown_customer_columns(con, source)
        if "customers" in source and shown:
            con.execute(f"CREATE TEMP VIEW v_customers AS SELECT {', '.join(db.ident(c) for c in shown)} "
                        "FROM src.main.customers")
        else:
            con.execute("CREATE TEMP VIEW v_customers AS SELECT NULL::VARCHAR AS customer_id WHERE false")
        counts = {
            "customers": con.execute("SELECT count(*) FROM v_customers").fetchone()[0],
            "feedback": con.execute("SELECT count(*) FROM v_feedback").fetchone()[0],
            "consent_records": con.execute("SELECT count(*) FROM v_consent").fetchone()[0],
        }
        for name, sql in _snapshot_queries().items():
            con.execute(f"COPY ({sql}) TO {db.literal(out / (name + '.parquet'))} (FORMAT parquet, COMPRESSION zstd)")
        _write_frame(con, out / "run_manifests.parquet", _manifests(con, ws.audit_dir),
                     {"run_id": "VARCHAR", "path": "VARCHAR", "manifest": "VARCHAR"})
        _write_frame(con, out / "model_assets.parquet", _model_assets(con, ws),
                     {"model_version": "VARCHAR", "file_name": "VARCHAR", "kind": "VARCHAR", "content": "BLOB"})
    finally:
        if source:
            con.execute("USE memory")
            con.execute("DETACH src")
    return {k: int(v) for k, v in counts.items()}


def _shown_customer_columns(con, source: dict[str, dict[str, str]]) -> list[str]:
    present = source.get("customers", {})
    if "customer_id" not in present:
        return []
    roles: dict[str, str] = {}
    if "customer_columns" in source:
        roles = dict(con.execute("SELECT column_name, role FROM src.main.customer_columns").fetchall())
    # By role only: a column the ingest did not type (no role) is not shown either.
    shown = [c for c in present if roles.get(c) in CUSTOMER_ROLES_SHOWN]
    return ["customer_id", *[c for c in shown if c != "customer_id"]]


def _latest_run_sql(view: str) -> str:
    return runs.latest_run_sql(view, "v_runs")


# `topics` is a JSON list (what the feedback stage writes) or, from older/foreign data, "a, b".
_TOPIC_LIST = """CASE WHEN topics IS NULL OR trim(topics) = '' THEN []::VARCHAR[]
                      WHEN trim(topics) LIKE '[%' THEN try_cast(from_json(topics, '["VARCHAR"]') AS VARCHAR[])
                      ELSE list_transform(string_split(topics, ','), x -> trim(x)) END"""


def _snapshot_queries() -> dict[str, str]:
    """name -> query over the v_* views; each becomes <name>.parquet."""
    # consent_<purpose>: true = allowed by consent.decision_sql's rule, false = a record that
    # does not allow it (refused, withdrawn, ambiguous), NULL = no record at all.
    decided = ",\n".join(f"bool_or(allowed) FILTER (WHERE purpose = {db.literal(p)}) AS allowed_{p}" for p in PURPOSES)
    recorded = ",\n".join(f"bool_or(purpose = {db.literal(p)}) AS recorded_{p}" for p in PURPOSES)
    latest_consent = ",\n".join(f"CASE WHEN dec.allowed_{p} THEN true WHEN rec.recorded_{p} THEN false END "
                                 f"AS consent_{p}" for p in PURPOSES)
    return {
        "runs": "SELECT * FROM v_runs",
        "stage_runs": "SELECT * FROM v_stage_runs",
        "model_registry": "SELECT * FROM v_model_registry",
        "llm_egress": "SELECT * FROM v_llm_egress",
        "audit_log": "SELECT * FROM v_audit_log ORDER BY seq",
        "customers": "SELECT * FROM v_customers",
        "run_volumes": """
            SELECT r.run_id,
                   (SELECT count(*) FROM v_predictions x WHERE x.run_id = r.run_id) AS scored,
                   (SELECT count(*) FROM v_actions x WHERE x.run_id = r.run_id) AS actions,
                   (SELECT count(*) FROM v_feedback_analysis x WHERE x.run_id = r.run_id) AS analysed_feedback,
                   (SELECT count(*) FROM v_llm_egress x WHERE x.run_id = r.run_id) AS llm_requests,
                   (SELECT count(*) FROM v_audit_log x WHERE x.run_id = r.run_id) AS audit_events
            FROM v_runs r""",
        "trend": """
            WITH p AS (SELECT run_id, count(*) AS scored, avg(churn_probability) AS avg_probability,
                              count(*) FILTER (WHERE segment = 'High') AS high,
                              count(*) FILTER (WHERE segment = 'Medium') AS medium,
                              count(*) FILTER (WHERE segment = 'Low') AS low
                       FROM v_predictions GROUP BY run_id),
                 a AS (SELECT run_id, count(*) FILTER (WHERE status <> 'control') AS actions,
                              count(*) FILTER (WHERE status = 'control') AS control
                       FROM v_actions GROUP BY run_id)
            SELECT r.run_id, r.started_at, r.status, coalesce(p.scored, 0) AS scored, p.avg_probability,
                   coalesce(p.high, 0) AS high, coalesce(p.medium, 0) AS medium, coalesce(p.low, 0) AS low,
                   coalesce(a.actions, 0) AS actions, coalesce(a.control, 0) AS control,
                   -- the inputs the run read (NULL: it read none and used the previous run's)
                   (SELECT arg_max(i.input_sha256, i.ingested_at) FROM v_ingest_log i WHERE i.run_id = r.run_id)
                       AS input_sha256
            FROM v_runs r LEFT JOIN p USING (run_id) LEFT JOIN a USING (run_id)
            ORDER BY r.started_at NULLS FIRST, r.run_id""",
        "feedback_latest": f"""
            SELECT f.run_id, f.feedback_id, f.customer_id, m.created_at, m.channel, f.anonymized_text, f.summary,
                   f.sentiment, f.sentiment_label, f.topics, f.status, f.provider, f.model, f.prompt_version,
                   {_TOPIC_LIST.replace('topics', 'f.topics')} AS topic_list
            FROM v_feedback_analysis f LEFT JOIN v_feedback m USING (feedback_id)
            WHERE f.run_id = {_latest_run_sql('v_feedback_analysis')}
""",
        "predictions_latest": f"""
            SELECT * FROM v_predictions WHERE run_id = {_latest_run_sql('v_predictions')}""",
        "actions_latest": f"""
            SELECT * FROM v_actions WHERE run_id = {_latest_run_sql('v_actions')}""",
        # Narrow on purpose (wide text columns live in predictions_latest / actions_latest) and
        # unsorted: both make this 1M-row join several times faster; queries sort what they show.
        "customer_view": f"""
            WITH pred AS (SELECT customer_id, churn_probability, segment
                          FROM v_predictions WHERE run_id = {_latest_run_sql('v_predictions')}),
                 ids AS (SELECT customer_id FROM v_customers UNION SELECT customer_id FROM pred),
                 act AS (SELECT customer_id, arg_max(action_type, created_at) AS action_type,
                                arg_max(status, created_at) AS action_status
                         FROM v_actions WHERE run_id = {_latest_run_sql('v_actions')} GROUP BY customer_id),
                 fb AS (SELECT customer_id, count(*) AS n_feedback, avg(sentiment) AS sentiment,
                               list_sort(list_distinct(flatten(list(coalesce(topic_list, []::VARCHAR[]))))) AS topics
                        FROM (SELECT customer_id, sentiment, {_TOPIC_LIST} AS topic_list
                              FROM v_feedback_analysis WHERE run_id = {_latest_run_sql('v_feedback_analysis')})
                        GROUP BY customer_id),
                 dec AS (SELECT customer_id, {decided} FROM ({consent.decision_sql("v_consent")}) GROUP BY customer_id),
                 rec AS (SELECT customer_id, {recorded} FROM v_consent GROUP BY customer_id),
                 cons AS (SELECT customer_id, {latest_consent} FROM rec LEFT JOIN dec USING (customer_id))
            SELECT ids.customer_id, pred.churn_probability, coalesce(pred.segment, {db.literal(NOT_SCORED)}) AS segment,
                   coalesce(fb.n_feedback, 0) AS n_feedback, fb.sentiment,
                   coalesce({sentiment_label_sql("fb.sentiment")}, 'no feedback') AS sentiment_label,
                   coalesce(fb.topics, []::VARCHAR[]) AS topics,
                   coalesce(act.action_type, 'none') AS action_type,
                   coalesce(act.action_status, 'no action') AS action_status,
                   cons.consent_profiling, cons.consent_external_llm, cons.consent_marketing
            FROM ids LEFT JOIN pred USING (customer_id) LEFT JOIN act USING (customer_id)
            LEFT JOIN fb USING (customer_id) LEFT JOIN cons USING (customer_id)""",
        **_effect_queries(),
    }


def _effect_queries() -> dict[str, str]:
    """Treated vs control counts per run, overall / per action type / per segment, and the Qini
    curve of the run's risk ranking (effect.qini_curve in SQL, about 50 points per run)."""
    experiment = """SELECT a.run_id, a.customer_id, a.segment, a.action_type, a.status <> 'control' AS treated,
                           o.churned::INTEGER AS churned, coalesce(p.churn_probability, 0) AS score
                    FROM v_actions a JOIN v_outcomes o ON o.run_id = a.run_id AND o.customer_id = a.customer_id
                    LEFT JOIN v_predictions p ON p.run_id = a.run_id AND p.customer_id = a.customer_id"""
    counts = """count(*) FILTER (WHERE treated) AS treated, count(*) FILTER (WHERE NOT treated) AS control,
                coalesce(sum(churned) FILTER (WHERE treated), 0)::BIGINT AS churned_treated,
                coalesce(sum(churned) FILTER (WHERE NOT treated), 0)::BIGINT AS churned_control"""
    return {
        "effect_counts": f"""
            WITH e AS ({experiment})
            SELECT run_id, 'overall' AS dimension, 'all customers' AS group_name, {counts} FROM e GROUP BY run_id
            UNION ALL SELECT run_id, 'action_type', coalesce(action_type, '(none)'), {counts} FROM e GROUP BY ALL
            UNION ALL SELECT run_id, 'segment', coalesce(segment, '(none)'), {counts} FROM e GROUP BY ALL""",
        "effect_qini": f"""
            WITH e AS ({experiment}),
                 r AS (SELECT *, row_number() OVER (PARTITION BY run_id ORDER BY score DESC, customer_id) AS k,
                              count(*) OVER (PARTITION BY run_id) AS n FROM e),
                 c AS (SELECT run_id, k, n, sum(treated::INTEGER) OVER w AS n_t, sum((NOT treated)::INTEGER) OVER w AS n_c,
                              sum(CASE WHEN treated THEN churned ELSE 0 END) OVER w AS c_t,
                              sum(CASE WHEN NOT treated THEN churned ELSE 0 END) OVER w AS c_c
                       FROM r WINDOW w AS (PARTITION BY run_id ORDER BY k ROWS UNBOUNDED PRECEDING))
            SELECT run_id, 'risk (churn probability)' AS policy, k::DOUBLE / n AS fraction,
                   CASE WHEN n_c > 0 THEN c_c::DOUBLE / n_c * n_t ELSE 0 END - c_t AS incremental
            FROM c WHERE k = n OR k % greatest(1, n // 50) = 0""",
    }


def _write_frame(con, path: Path, frame: pd.DataFrame, schema: dict[str, str]) -> None:
    if frame.empty:
        cols = ", ".join(f"NULL::{t} AS {db.ident(c)}" for c, t in schema.items())
        con.execute(f"COPY (SELECT {cols} WHERE false) TO {db.literal(path)} (FORMAT parquet)")
        return
    con.register("_frame", frame)
    try:
        cols = ", ".join(f"CAST({db.ident(c)} AS {t}) AS {db.ident(c)}" for c, t in schema.items())
        con.execute(f"COPY (SELECT {cols} FROM _frame) TO {db.literal(path)} (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.unregister("_frame")


def _manifests(con, audit_dir: Path) -> pd.DataFrame:
    rows = []
    for (run_id,) in con.execute("SELECT run_id FROM v_runs").fetchall():
        path = audit_dir / "runs" / run_id / "manifest.json"
        if path.is_file():
            rows.append({"run_id": run_id, "path": str(path), "manifest": path.read_text()})
    return pd.DataFrame(rows)


def _model_assets(con, ws) -> pd.DataFrame:
    """The model card and its sibling plots/tables (never the model artefact itself)."""
    rows = []
    for version, card_path in con.execute(
            "SELECT model_version, any_value(card_path) FROM v_model_registry "
            "WHERE card_path IS NOT NULL GROUP BY model_version").fetchall():
        card = ws.resolve(card_path)
        if not card.parent.is_dir():
            continue
        for path in sorted(card.parent.iterdir()):
            if (path.is_file() and path.suffix.lower() in MODEL_ASSET_SUFFIXES
                    and path.stat().st_size <= MODEL_ASSET_MAX_BYTES):
                kind = "card" if path == card else path.suffix.lower().lstrip(".")
                rows.append({"model_version": version, "file_name": path.name, "kind": kind, "content": path.read_bytes()})
    return pd.DataFrame(rows)
