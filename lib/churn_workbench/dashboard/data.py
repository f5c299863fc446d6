"""Reading the published snapshot: `load(snapshot_dir)` returns a `DashboardData` whose methods
are the dashboard's queries; every one returns plain Python / pandas values, so they are
unit-tested without a browser."""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from .. import audit, db, effect
from ..errors import SnapshotGone
from ..vocab import NOT_SCORED, PURPOSES, SEGMENTS
from .publish import LLM_PRICES_USD_PER_MTOK, META, TABLES, current_generation, refused

# Markdown image links, e.g. ![ROC](model_card_roc.png) or ![x](https://host/x.png "title").
_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(\s*([^)\s]+)[^)]*\)")


def _image_note(match: re.Match) -> str:
    label, target = match.group(1) or match.group(2), match.group(2)
    where = "not loaded (remote)" if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) else "shown under Evaluation plots"
    return f"*[{label}: {where}]*"

# --------------------------------------------------------------------------------------------
# load + queries
# --------------------------------------------------------------------------------------------

@dataclass
class CustomerFilter:
    """The customer table's filters; None / "" means "any". `consent` is a purpose name: only
    customers whose latest record grants it ("no <purpose>": refused, withdrawn or no record)."""
    segment: str | None = None
    min_probability: float = 0.0
    max_probability: float = 1.0
    sentiment: str | None = None
    topic: str | None = None
    consent: str | None = None
    action_status: str | None = None
    search: str | None = None


@dataclass
class Page:
    """Some rows of a longer result, and how many rows the whole result has."""
    rows: pd.DataFrame
    total: int


@dataclass
class DashboardData:
    """Queries over one snapshot generation. `state` is "ready", "empty" (no run yet),
    "missing" (nothing published) or "unreadable"; only "ready" and "empty" can be queried."""
    path: Path | None
    state: str
    message: str = ""
    meta: dict = field(default_factory=dict)
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    # -- plumbing ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self._run(sql, params).df()

    def scalar(self, sql: str, params: list | None = None):
        row = self._run(sql, params).fetchone()
        return row[0] if row else None

    def _run(self, sql, params):
        if self._con is None:
            raise RuntimeError(f"snapshot is {self.state}: {self.message}")
        try:
            return self._con.execute(sql, params or [])
        except duckdb.IOException as exc:
            if self.path is not None and not self.path.exists():
                raise SnapshotGone("a newer snapshot replaced this one long ago: press reload") from exc
            raise

    # -- overview ------------------------------------------------------------------------
    def last_run(self) -> dict | None:
        frame = self.query("""
            SELECT run_id, status, started_at, finished_at,
                   date_diff('millisecond', started_at, finished_at) / 1000.0 AS duration_s, llm_provider, error
            FROM runs ORDER BY started_at DESC NULLS LAST LIMIT 1""")
        if frame.empty:
            return None
        run = _record(frame.iloc[0])
        run["volumes"] = self.volumes(run["run_id"])
        return run

    def run_volumes(self, run_id: str) -> dict:
        """What one run produced: customers scored, actions, feedback analysed, LLM requests, audit events."""
        row = self.query("SELECT * EXCLUDE (run_id) FROM run_volumes WHERE run_id = ?", [run_id])
        return {k: int(v or 0) for k, v in (_record(row.iloc[0]) if not row.empty else {}).items()}

    def store_counts(self) -> dict:
        """What the store holds now, whichever run wrote it: customers, feedback, consent records."""
        return {k: int(v) for k, v in self.meta.get("counts", {}).items()}

    def volumes(self, run_id: str) -> dict:
        """Data volumes: current table sizes plus what the given run produced."""
        counts = dict(self.meta.get("counts", {}))
        row = self.query("SELECT * EXCLUDE (run_id) FROM run_volumes WHERE run_id = ?", [run_id])
        per_run = _record(row.iloc[0]) if not row.empty else {}
        return {k: int(v or 0) for k, v in {**counts, **per_run}.items()}

    def kpis(self) -> dict:
        """Headline numbers of the newest predictions and actions (one row per customer)."""
        seg = dict(self.query("SELECT segment, count(*) FROM customer_view WHERE segment <> ? GROUP BY 1",
                              [NOT_SCORED]).itertuples(index=False, name=None))
        by_status = dict(self.query("SELECT status, count(*) FROM actions_latest GROUP BY 1 ORDER BY 2 DESC, 1"
                                    ).itertuples(index=False, name=None))
        avg = self.scalar("SELECT avg(churn_probability) FROM customer_view")
        return {
            "customers": int(self.meta.get("counts", {}).get("customers", 0)),
            "scored": int(sum(seg.values())),
            "segments": {s: int(seg.get(s, 0)) for s in SEGMENTS} | {k: int(v) for k, v in seg.items() if k not in SEGMENTS},
            "avg_churn_probability": None if avg is None or pd.isna(avg) else float(avg),
            "actions_by_status": {k: int(v) for k, v in by_status.items()},
            "control_group": int(by_status.get("control", 0)),
            "prediction_run": self.scalar("SELECT any_value(run_id) FROM predictions_latest"),
            "action_run": self.scalar("SELECT any_value(run_id) FROM actions_latest"),
        }

    def trend(self) -> pd.DataFrame:
        """One row per run, oldest first: scored customers, segment sizes, mean probability, actions,
        and `data_set`: A for the first input data seen, B for the next different one, ... (a run
        that read no inputs keeps the previous run's), so runs on different data are told apart."""
        frame = self.query("SELECT * FROM trend ORDER BY started_at NULLS FIRST, run_id")
        inputs = frame["input_sha256"] if "input_sha256" in frame.columns else pd.Series([None] * len(frame))
        frame["data_set"] = _letters(inputs.ffill())
        return frame

    # -- customers -----------------------------------------------------------------------
    def filter_options(self) -> dict:
        def values(sql):
            return [v for v in self.query(sql).iloc[:, 0].tolist() if v is not None]
        order = {s: i for i, s in enumerate((*SEGMENTS, NOT_SCORED))}
        return {
            "segment": sorted(values("SELECT DISTINCT segment FROM customer_view"), key=lambda s: (order.get(s, 99), s)),
            "sentiment": values("SELECT DISTINCT sentiment_label FROM customer_view ORDER BY 1"),
            "topic": values("SELECT DISTINCT unnest(topic_list) FROM feedback_latest ORDER BY 1"),
            "consent": [p for purpose in PURPOSES for p in (purpose, "no " + purpose)],
            "action_status": values("SELECT DISTINCT action_status FROM customer_view ORDER BY 1"),
        }

    def customers(self, flt: CustomerFilter | None = None, limit: int = 100, offset: int = 0) -> Page:
        """Filtered customer table (highest probability first) and the number of matches."""
        flt = flt or CustomerFilter()
        where: list[str] = []
        params: list = []
        if flt.min_probability > 0 or flt.max_probability < 1:  # a range excludes unscored customers
            where.append("churn_probability BETWEEN ? AND ?")
            params += [float(flt.min_probability), float(flt.max_probability)]
        for column, value in (("segment", flt.segment), ("sentiment_label", flt.sentiment),
                              ("action_status", flt.action_status)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if flt.topic:
            where.append("list_contains(topics, ?)")
            params.append(flt.topic)
        if flt.consent:
            negate = flt.consent.startswith("no ")
            purpose = flt.consent[3:] if negate else flt.consent
            if purpose not in PURPOSES:
                raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
            # No record = no consent: NULL counts as "no".
            where.append(f"coalesce(consent_{purpose}, false) = {'false' if negate else 'true'}")
        if flt.search and flt.search.strip():
            where.append("customer_id ILIKE ?")
            params.append(f"%{flt.search.strip()}%")
        clause = ("WHERE " + " AND ".join(f"({w})" for w in where)) if where else ""
        total = int(self.scalar(f"SELECT count(*) FROM customer_view {clause}", params))
        rows = self.query(
            f"""SELECT customer_id, segment, round(churn_probability, 3) AS churn_probability, sentiment_label,
                       array_to_string(topics, ', ') AS topics, n_feedback, action_type, action_status,
                       coalesce(consent_profiling, false) AS consent_profiling,
                       coalesce(consent_external_llm, false) AS consent_external_llm,
                       coalesce(consent_marketing, false) AS consent_marketing
                FROM customer_view {clause}
                ORDER BY churn_probability DESC NULLS LAST, customer_id LIMIT ? OFFSET ?""",
            [*params, int(limit), int(offset)])
        return Page(rows, total)

    def customer_detail(self, customer_id: str, refs: audit.SubjectRefs | None = None) -> dict | None:
        """Everything about one customer the dashboard may show; never an identifier column.

        `refs` (the workbench's SubjectRefs) links the customer to their pseudonymous audit
        events; without it the audit trail is left empty and `audit_trail_note` says why.
        """
        cid = str(customer_id)
        view = self.query("SELECT * FROM customer_view WHERE customer_id = ?", [cid])
        if view.empty:
            return None
        summary = _record(view.iloc[0])
        profile = self.query("SELECT * FROM customers WHERE customer_id = ?", [cid])
        feedback = self.query("""SELECT feedback_id, created_at, channel, anonymized_text, summary, sentiment,
                                        sentiment_label, array_to_string(topic_list, ', ') AS topics, status,
                                        provider, model
                                 FROM feedback_latest WHERE customer_id = ?
                                 ORDER BY created_at NULLS LAST, feedback_id""", [cid])
        prediction = self.query("SELECT churn_probability, segment, drivers, model_version, run_id, scored_at "
                                "FROM predictions_latest WHERE customer_id = ?", [cid])
        pred = _record(prediction.iloc[0]) if not prediction.empty else {}
        actions = self.query("""SELECT action_type, status, channel, discount_pct, message, provider, model,
                                       prompt_version, model_version, run_id, created_at
                                FROM actions_latest WHERE customer_id = ? ORDER BY created_at DESC""", [cid])
        consent = pd.DataFrame({"purpose": list(PURPOSES), "granted": [summary[f"consent_{p}"] for p in PURPOSES]})
        consent["decision"] = consent["granted"].map({True: "granted", False: "refused or withdrawn"}).fillna(
            "no record (= no consent)")
        profile_row = _record(profile.iloc[0]) if not profile.empty else {"customer_id": cid}
        trail, note = pd.DataFrame(), ""
        if refs is None:
            note = "audit trail unavailable: the dashboard cannot read the subject key"
        else:
            trail = self.audit_events(subject_ref=refs.ref(cid), limit=500)
        return {
            "customer_id": cid,
            "summary": summary,
            "profile": profile_row,
            "churn_probability": pred.get("churn_probability"),
            "segment": pred.get("segment"),
            "model_version": pred.get("model_version"),
            "prediction_run": pred.get("run_id"),
            "drivers": _drivers(pred.get("drivers"), profile_row) if pred.get("drivers") is not None
            else pd.DataFrame({"rank": [], "feature": [], "value": []}),
            "feedback": feedback,
            "actions": actions,
            "consent": consent,
            "audit_trail": trail,
            "audit_trail_note": note,
        }

    # -- model ---------------------------------------------------------------------------
    def model_versions(self) -> pd.DataFrame:
        """The registry, newest first, with the headline metrics as columns."""
        frame = self.query("""SELECT model_version, run_id, algorithm, n_train, trained_at, metrics, data_sha256
                              FROM model_registry ORDER BY trained_at DESC NULLS LAST""")
        # Training data A, B, ... in the order first seen (oldest first): models trained on
        # different data are not comparable figure for figure.
        frame["training_data"] = list(reversed(_letters(frame["data_sha256"][::-1])))
        metrics = frame.pop("metrics").map(_json_obj)
        for key in ("roc_auc", "auc", "pr_auc", "average_precision", "brier", "log_loss"):
            values = metrics.map(lambda m, key=key: m.get(key) if isinstance(m.get(key), (int, float)) else None)
            if values.notna().any():
                frame[key] = values
        return frame

    def model_metrics(self, version: str) -> dict:
        return _json_obj(self.scalar("SELECT metrics FROM model_registry WHERE model_version = ? "
                                     "ORDER BY trained_at DESC LIMIT 1", [version]))

    def model_card(self, version: str) -> str | None:
        """The card's Markdown, with every image link replaced by a note: plots next to the card
        are shown by the dashboard itself (it serves no files), and a remote image would be a
        request to the internet."""
        content = self.scalar("SELECT content FROM model_assets WHERE model_version = ? AND kind = 'card' LIMIT 1",
                              [version])
        if content is None:
            return None
        text = bytes(content).decode("utf-8", "replace")
        return _IMAGE_LINK.sub(_image_note, text)

    def driver_frequency(self, top: int = 15) -> pd.DataFrame:
        """How often each feature is among the latest predictions' risk drivers (and how often first)."""
        return self.query("""
            WITH d AS (SELECT try_cast(from_json(drivers, '["VARCHAR"]') AS VARCHAR[]) AS names
                       FROM predictions_latest WHERE drivers LIKE '["%' OR drivers LIKE '[]')
            SELECT feature, count(*) AS customers, count(*) FILTER (WHERE rank = 1) AS as_top_driver
            FROM (SELECT unnest(names) AS feature, generate_subscripts(names, 1) AS rank FROM d WHERE names IS NOT NULL)
            GROUP BY feature ORDER BY customers DESC, feature LIMIT ?""", [int(top)])

    def model_images(self, version: str) -> list[tuple[str, bytes]]:
        """(file name, PNG bytes) of the plots stored next to the model card."""
        frame = self.query("SELECT file_name, content FROM model_assets WHERE model_version = ? AND kind = 'png' "
                           "ORDER BY file_name", [version])
        return [(n, bytes(c)) for n, c in zip(frame["file_name"], frame["content"])]

    def feature_importance(self, version: str) -> pd.DataFrame | None:
        """(feature, importance), largest first, from the model's metrics or an *importance*
        .json/.csv next to the card; None if the model has neither."""
        metrics = self.model_metrics(version)
        for key in ("feature_importance", "feature_importances", "importances", "permutation_importance"):
            frame = _importance_frame(metrics.get(key))
            if frame is not None:
                return frame
        assets = self.query("SELECT file_name, kind, content FROM model_assets WHERE model_version = ? "
                            "AND kind IN ('json', 'csv') AND file_name ILIKE '%importance%'", [version])
        for _, kind, content in assets.itertuples(index=False, name=None):
            text = bytes(content).decode("utf-8", "replace")
            try:
                value = json.loads(text) if kind == "json" else pd.read_csv(io.StringIO(text))
            except ValueError:
                continue
            frame = _importance_frame(value)
            if frame is not None:
                return frame
        return None

    # -- governance ----------------------------------------------------------------------
    def consent_coverage(self) -> pd.DataFrame:
        """Per purpose: customers granted / refused or withdrawn / with no record (= no consent),
        judged on the latest record per customer and purpose."""
        parts = " UNION ALL ".join(
            f"""SELECT {db.literal(p)} AS purpose, count(*) AS customers,
                       count(*) FILTER (WHERE consent_{p}) AS granted,
                       count(*) FILTER (WHERE NOT consent_{p}) AS refused_or_withdrawn,
                       count(*) FILTER (WHERE consent_{p} IS NULL) AS no_record
                FROM customer_view""" for p in PURPOSES)
        frame = self.query(f"SELECT * FROM ({parts}) ORDER BY purpose")
        frame["granted_pct"] = (100 * frame["granted"] / frame["customers"].where(frame["customers"] > 0)).round(1)
        return frame

    def anonymization_counts(self, run_id: str | None = None) -> pd.DataFrame:
        """Entities replaced before egress, by type: the `entities` of "anonymized" audit events."""
        return self.query("""
            WITH e AS (SELECT json_transform(details -> '$.entities', '"MAP(VARCHAR, BIGINT)"') AS m
                       FROM audit_log WHERE event_type = 'anonymized' AND (?::VARCHAR IS NULL OR run_id = ?)),
                 kv AS (SELECT unnest(map_entries(m)) AS kv FROM e WHERE m IS NOT NULL)
            SELECT kv.key AS entity_type, sum(kv.value)::BIGINT AS count
            FROM kv GROUP BY 1 ORDER BY 2 DESC, 1""", [run_id, run_id])

    def egress_blocks(self, run_id: str | None = None) -> pd.DataFrame:
        """Texts and requests the egress rule kept home (event_type "egress_blocked": a token not
        known to be safe, or a text mainly in a language the rule cannot vet)."""
        return self.query("""SELECT seq, ts, run_id, stage, status, details FROM audit_log
                             WHERE event_type = 'egress_blocked' AND (?::VARCHAR IS NULL OR run_id = ?)
                             ORDER BY seq DESC""", [run_id, run_id])

    def egress_search(self, text: str = "", run_id: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        """What left the machine: llm_egress payloads containing `text` (case-insensitive)."""
        params = [run_id, run_id, f"%{(text or '').strip()}%"]
        clause = "(?::VARCHAR IS NULL OR run_id = ?) AND payload ILIKE ?"
        total = int(self.scalar(f"SELECT count(*) FROM llm_egress WHERE {clause}", params))
        rows = self.query(f"""SELECT sent_at, run_id, stage, provider, model, prompt_version, n_items, outcome,
                                     prompt_tokens, completion_tokens, payload_sha256, payload
                              FROM llm_egress WHERE {clause} ORDER BY sent_at DESC NULLS LAST, request_id
                              LIMIT ? OFFSET ?""", [*params, int(limit), int(offset)])
        return Page(rows, total)

    def llm_usage(self, prices: dict[tuple[str, str], tuple[float, float]] | None = None) -> pd.DataFrame:
        """Requests, tokens and estimated cost (USD, list prices) per run, provider and model."""
        prices = LLM_PRICES_USD_PER_MTOK if prices is None else prices
        frame = self.query("""
            SELECT e.run_id, any_value(r.started_at) AS started_at, e.provider, e.model, count(*) AS requests,
                   coalesce(sum(e.n_items), 0)::BIGINT AS items,
                   count(*) FILTER (WHERE e.outcome IS DISTINCT FROM 'ok') AS not_ok,
                   coalesce(sum(e.prompt_tokens), 0)::BIGINT AS prompt_tokens,
                   coalesce(sum(e.completion_tokens), 0)::BIGINT AS completion_tokens,
                   round(avg(e.latency_ms)) AS avg_latency_ms
            FROM llm_egress e LEFT JOIN runs r USING (run_id)
            GROUP BY e.run_id, e.provider, e.model ORDER BY started_at DESC NULLS LAST, e.run_id, e.provider, e.model""")

        def cost(provider, model, prompt, completion) -> float | None:
            price = prices.get((provider, model)) or prices.get((provider, "*"))
            return None if price is None else round((prompt * price[0] + completion * price[1]) / 1e6, 6)

        frame["est_cost_usd"] = pd.Series(
            [cost(*r) for r in frame[["provider", "model", "prompt_tokens", "completion_tokens"]].itertuples(
                index=False, name=None)], index=frame.index, dtype="float64")
        return frame

    def audit_status(self) -> dict:
        """The verification recorded at publish time; `ok` is True only if verify passed."""
        verify = self.meta.get("verify", {})
        return {"ok": verify.get("ok") is True, "summary": verify.get("summary", "not verified"),
                "problems": list(verify.get("problems", [])), "events": int(verify.get("events", 0)),
                "runs_checked": int(verify.get("runs_checked", 0)), "published_at": self.meta.get("published_at")}

    def audit_filter_options(self) -> dict:
        def values(column):
            return [v for v in self.query(f"SELECT DISTINCT {column} FROM audit_log ORDER BY 1").iloc[:, 0] if v is not None]
        return {c: values(c) for c in ("run_id", "stage", "event_type", "status")}

    def audit_events(self, run_id: str | None = None, stage: str | None = None, event_type: str | None = None,
                     status: str | None = None, subject_ref: str | None = None, limit: int = 200,
                     offset: int = 0) -> pd.DataFrame:
        """The audit log, newest first, filtered by any of run, stage, event type, status, subject."""
        clause, params = _audit_where(run_id, stage, event_type, status, subject_ref)
        return self.query(f"""SELECT seq, ts, run_id, stage, event_type, status, subject_ref, details,
                                     left(hash, 16) AS hash_prefix
                              FROM audit_log {clause} ORDER BY seq DESC LIMIT ? OFFSET ?""",
                          [*params, int(limit), int(offset)])

    def audit_page(self, run_id: str | None = None, stage: str | None = None, event_type: str | None = None,
                   status: str | None = None, limit: int = 20, offset: int = 0) -> Page:
        """One page of the filtered audit log (newest first) and how many events match."""
        clause, params = _audit_where(run_id, stage, event_type, status, None)
        total = int(self.scalar(f"SELECT count(*) FROM audit_log {clause}", params))
        return Page(self.audit_events(run_id, stage, event_type, status, limit=limit, offset=offset), total)

    def audit_summary(self, run_id: str | None = None, stage: str | None = None, event_type: str | None = None,
                      status: str | None = None) -> pd.DataFrame:
        """The filtered audit log in a few rows: events per type, most frequent first, and the latest."""
        clause, params = _audit_where(run_id, stage, event_type, status, None)
        return self.query(f"""SELECT event_type, count(*) AS events, max(ts) AS latest FROM audit_log {clause}
                              GROUP BY event_type ORDER BY events DESC, event_type""", params)

    def audit_event(self, seq: int) -> dict | None:
        """One audit event in full (its details as parsed JSON)."""
        frame = self.query("SELECT seq, ts, run_id, stage, event_type, status, subject_ref, details, prev_hash, hash "
                           "FROM audit_log WHERE seq = ?", [int(seq)])
        if frame.empty:
            return None
        event = _record(frame.iloc[0])
        event["details"] = _json_obj(event["details"]) or event["details"]
        return event

    # -- runs ----------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        return self.query("""
            SELECT r.run_id, r.status, r.started_at, r.finished_at,
                   date_diff('millisecond', r.started_at, r.finished_at) / 1000.0 AS duration_s,
                   r.llm_provider, (SELECT count(*) FROM stage_runs s WHERE s.run_id = r.run_id) AS stages,
                   r.error, EXISTS (SELECT 1 FROM run_manifests m WHERE m.run_id = r.run_id) AS has_manifest
            FROM runs r ORDER BY r.started_at DESC NULLS LAST""")

    def run_notebooks(self, run_id: str) -> pd.DataFrame:
        """The run's executed notebooks with their sha256, and whether the run manifest agrees."""
        frame = self.query("""SELECT stage, status, started_at, round(duration_s, 2) AS duration_s, notebook_path,
                                     notebook_sha256, error
                              FROM stage_runs WHERE run_id = ? ORDER BY started_at, stage""", [run_id])
        artefacts = (self.run_manifest(run_id) or {}).get("artefacts", {})
        frame["manifest_sha256_matches"] = pd.Series(
            [(artefacts[f"notebook:{s}"].get("sha256") == h) if f"notebook:{s}" in artefacts else None
             for s, h in zip(frame["stage"], frame["notebook_sha256"])], index=frame.index, dtype="object")
        return frame

    def run_manifest(self, run_id: str) -> dict | None:
        text = self.scalar("SELECT manifest FROM run_manifests WHERE run_id = ?", [run_id])
        return json.loads(text) if text else None

    # -- effect of the actions (issue 17) ---------------------------------------------------
    def effect_runs(self) -> list[str]:
        """Runs whose actions have observed outcomes, newest first."""
        return [r[0] for r in self.query(
            """SELECT e.run_id FROM effect_counts e LEFT JOIN runs r USING (run_id) WHERE e.dimension = 'overall'
               ORDER BY r.started_at DESC NULLS LAST, e.run_id DESC""").itertuples(index=False, name=None)]

    def effect_summary(self, run_id: str, dimension: str = "overall", min_control: int = 30) -> pd.DataFrame:
        """Treated vs control churn for one run, per `dimension` (overall, action_type, segment),
        with the effect (control rate - treated rate) and its 95% interval (effect.from_counts)."""
        counts = self.query("SELECT group_name AS group, treated, control, churned_treated, churned_control "
                            "FROM effect_counts WHERE run_id = ? AND dimension = ? ORDER BY 1", [run_id, dimension])
        return effect.from_counts(counts, min_control)

    def effect_qini(self, run_id: str) -> pd.DataFrame:
        """The Qini curve (fraction targeted, incremental customers kept) of the run's risk ranking."""
        curve = self.query("SELECT policy, fraction, incremental FROM effect_qini WHERE run_id = ? ORDER BY policy, fraction",
                           [run_id])
        if curve.empty:
            return curve
        start = pd.DataFrame({"policy": curve["policy"].unique(), "fraction": 0.0, "incremental": 0.0})
        return pd.concat([start, curve], ignore_index=True).sort_values(["policy", "fraction"], ignore_index=True)


def load(snapshot_dir: str | Path) -> DashboardData:
    """Open the current snapshot generation. Never raises for a missing, empty or broken
    snapshot: the returned `state` and `message` say what the user should do instead."""
    why = refused(snapshot_dir)
    if why:
        return DashboardData(None, "unreadable", f"The dashboard does not read this snapshot: {why}. Run `make run` "
                                                 "to publish a fresh one.")
    generation = current_generation(snapshot_dir)
    if generation is None:
        return DashboardData(None, "missing", f"No dashboard snapshot in {snapshot_dir}. Run `make run` first: "
                                              "every pipeline run publishes one.")
    try:
        meta = json.loads((generation / META).read_text())
        con = db.in_memory()
        try:
            for table in TABLES:
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({db.literal(generation / (table + '.parquet'))})")
            runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        except BaseException:
            con.close()
            raise
    except (OSError, ValueError, duckdb.Error) as exc:
        return DashboardData(generation, "unreadable", f"The snapshot {generation} cannot be read "
                                                       f"({type(exc).__name__}: {exc}). Run `make run` to publish a fresh one.")
    if runs == 0:
        return DashboardData(generation, "empty", "The workbench has no runs yet. Run `make run` first.", meta, con)
    return DashboardData(generation, "ready", "", meta, con)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _record(row: pd.Series) -> dict:
    """A DataFrame row as plain Python values (None for missing, no numpy scalars)."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # a LIST column arrives as an array
            out[key] = value.tolist()
        elif isinstance(value, (list, tuple, dict, bytes, bytearray)):
            out[key] = value
        elif value is None or pd.isna(value):
            out[key] = None
        else:
            out[key] = value.item() if hasattr(value, "item") and not isinstance(value, pd.Timestamp) else value
    return out


def _audit_where(run_id, stage, event_type, status, subject_ref) -> tuple[str, list]:
    where, params = [], []
    for column, value in (("run_id", run_id), ("stage", stage), ("event_type", event_type),
                          ("status", status), ("subject_ref", subject_ref)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    return ("WHERE " + " AND ".join(where)) if where else "", params


def _letters(values) -> list[str | None]:
    """A, B, C, ... per distinct value in order of first appearance (None stays None)."""
    names: dict = {}
    out = []
    for value in values:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            out.append(None)
            continue
        if value not in names:
            n = len(names)
            names[value] = chr(ord("A") + n) if n < 26 else f"#{n + 1}"
        out.append(names[value])
    return out


def _json_obj(text) -> dict:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _drivers(text, profile: dict) -> pd.DataFrame:
    """The prediction's drivers as (rank, feature, value[, contribution]) with this customer's value.

    The predict stage stores a JSON list of feature names, largest risk contribution first
    (`explain.top_drivers`); lists of {feature, contribution} dicts or [name, value] pairs and
    {name: contribution} dicts are accepted too.
    """
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        value = [str(text)]
    if isinstance(value, dict):
        frame = pd.DataFrame({"feature": list(value), "contribution": list(value.values())})
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        frame = pd.DataFrame(value).rename(columns={"name": "feature", "driver": "feature"})
        frame = frame.drop(columns=[c for c in ("value",) if c in frame.columns])
    elif isinstance(value, list) and value and all(isinstance(v, (list, tuple)) and len(v) >= 2 for v in value):
        frame = pd.DataFrame({"feature": [v[0] for v in value], "contribution": [v[1] for v in value]})
    elif isinstance(value, list):
        frame = pd.DataFrame({"feature": [str(v) for v in value]})
    else:
        frame = pd.DataFrame({"feature": []})
    if "feature" not in frame.columns:
        return pd.DataFrame({"feature": []})
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame.insert(2, "value", [profile.get(f) for f in frame["feature"]])
    return frame


def _importance_frame(value) -> pd.DataFrame | None:
    if isinstance(value, pd.DataFrame):
        frame = value
    elif isinstance(value, dict) and value and all(isinstance(v, (int, float)) for v in value.values()):
        frame = pd.DataFrame({"feature": list(value), "importance": list(value.values())})
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        frame = pd.DataFrame(value)
    else:
        return None
    cols = {c.lower(): c for c in frame.columns}
    feature = cols.get("feature") or cols.get("name")
    importance = cols.get("importance") or cols.get("importance_mean") or cols.get("value")
    if feature is None or importance is None:
        return None
    frame = frame[[feature, importance]].rename(columns={feature: "feature", importance: "importance"})
    return frame.sort_values("importance", ascending=False, ignore_index=True)
