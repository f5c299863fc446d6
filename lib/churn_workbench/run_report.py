"""What one run did and why, read back from the audit events its stages wrote.

The run summary on the terminal and the LLM-health gate of the runner both read here, so they
can never disagree: every customer who was not scored or not actioned is counted under the
reason the stage recorded (already churned, no consent record, an objection on record, low
risk, control group), and every LLM stage reports requests, retries and how many items the
model analysed versus how many fell back to the offline analyzer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from . import db, incremental

# Stage -> the audit event in which it reports its work (details carry the LLM engine's stats).
LLM_EVENTS = {"feedback": "feedback_analysed", "act": "actions_written"}
_EVENTS = tuple(dict.fromkeys(("stage_started", "consent_checked", "predictions_written", "actions_written",
                                "feedback_analysed", "llm_fallback", "targeting", "model_decision",
                                *incremental.EVENTS)))


@dataclass
class LLMHealth:
    """One LLM stage of one run. `model_items`: items meant for the external model (consent given,
    text to send, not kept home by the egress rule); `fallbacks` of them were analysed offline
    because the model did not answer usably. `blocked`: kept home, `unvetted` of them because
    their text is mainly in a language the allow rule cannot vet (`unvetted_languages`)."""

    stage: str
    provider: str
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    items: int = 0
    model_items: int = 0
    fallbacks: int = 0
    policy_fallbacks: int = 0
    blocked: int = 0
    unvetted: int = 0
    unvetted_languages: str = ""
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def by_model(self) -> int:
        return self.model_items - self.fallbacks

    @property
    def fallback_share(self) -> float:
        return self.fallbacks / self.model_items if self.model_items else 0.0

    def reason_text(self) -> str:
        """The fallback reasons, most frequent first (the engine counts them per distinct text
        sent, not per row, so only their order is shown)."""
        return ", ".join(r for r, _ in sorted(self.reasons.items(), key=lambda kv: -kv[1])) or "no reason recorded"


def _latest_events(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple, dict]:
    """(stage, event_type, purpose) -> details of the newest such event of the run (a resumed
    stage reports again; its last report is the one that stands). llm_fallback events are summed
    per reason under (stage, "llm_fallback", None), counting only the stage's last attempt."""
    rows = con.execute("SELECT stage, event_type, details FROM audit_log WHERE run_id = ? AND event_type IN "
                       f"({', '.join('?' * len(_EVENTS))}) ORDER BY seq", [run_id, *_EVENTS]).fetchall()
    latest: dict[tuple, dict] = {}
    for stage, event, details in rows:
        details = json.loads(details) if details else {}
        if event == "stage_started":
            latest.pop((stage, "llm_fallback", None), None)
        elif event == "llm_fallback":
            reasons = latest.setdefault((stage, event, None), {})
            reason = str(details.get("reason"))
            reasons[reason] = reasons.get(reason, 0) + int(details.get("n_items") or 0)
        else:
            latest[(stage, event, details.get("purpose"))] = details
    return latest


def llm_health(events: dict[tuple, dict], stage: str, provider: str) -> LLMHealth | None:
    """The LLM health of `stage` from the run's events; None if the stage did not report."""
    details = events.get((stage, LLM_EVENTS[stage], None))
    if details is None:
        return None
    if stage == "feedback":
        stats, items = details, int(details.get("items") or 0)
    else:
        stats = details.get("llm") or {}
        items = int(details.get("llm_items") or 0)
    local, blocked = int(stats.get("local") or 0), int(stats.get("blocked") or 0)
    return LLMHealth(stage=stage, provider=provider, requests=int(stats.get("requests") or 0),
                     retries=int(stats.get("retries") or 0), rate_limited=int(stats.get("rate_limited") or 0),
                     items=items, model_items=max(items - local - blocked, 0), fallbacks=int(stats.get("fallbacks") or 0),
                     policy_fallbacks=int(stats.get("policy_fallbacks") or 0), blocked=blocked,
                     unvetted=int(stats.get("language_not_vetted") or 0),
                     unvetted_languages=str(stats.get("languages_not_vetted") or ""),
                     reasons=dict(events.get((stage, "llm_fallback", None), {})))


def _consent_reasons(events: dict[tuple, dict], stage: str, purpose: str) -> dict[str, int]:
    checked = events.get((stage, "consent_checked", purpose))
    if not checked:
        return {}
    excluded = int(checked.get("excluded") or 0)
    withdrawn = int(checked.get("withdrawn") or 0)
    no_record = int(checked.get("no_record", excluded - withdrawn) or 0)
    return {f"no {purpose} consent on record": no_record, f"objected to or withdrew {purpose}": withdrawn}


def not_scored(events: dict[tuple, dict]) -> dict[str, int]:
    """Reason -> customers the predict stage left out (zero counts dropped)."""
    written = events.get(("predict", "predictions_written", None)) or {}
    reasons = {"already churned (labelled as left: training data only)": int(written.get("excluded_churned") or 0)}
    reasons.update(_consent_reasons(events, "predict", "profiling"))
    reasons["no model deployed for this data contract"] = int(written.get("no_model") or 0)
    return {k: v for k, v in reasons.items() if v}


def _targeting_method(events: dict[tuple, dict]) -> str:
    written = events.get(("act", "actions_written", None)) or {}
    chosen = events.get(("act", "targeting", None)) or {}
    return written.get("targeting") or chosen.get("method") or "risk"


def targeting(events: dict[tuple, dict]) -> str | None:
    """How the act stage chose whom to contact, in one line; None if it did not run."""
    written = events.get(("act", "actions_written", None))
    if written is None:
        return None
    chosen = events.get(("act", "targeting", None)) or {}
    if _targeting_method(events) == "uplift":
        value = f" x {chosen['value_column']}" if chosen.get("value_column") else ""
        return (f"by uplift: the {int(chosen.get('selected') or 0):,} customers an action is expected to help most "
                f"(expected effect{value}, learnt from the outcomes of run {chosen.get('outcomes_run')}: "
                f"{int(chosen.get('trained_treated') or 0):,} treated, {int(chosen.get('trained_control') or 0):,} control); "
                f"as many as the risk rule (segments {written.get('action_segments')}) would pick, whatever their segment")
    why = chosen.get("reason")
    return (f"by risk: every scored customer in segments {written.get('action_segments')}"
            + (f" (uplift targeting needs outcomes: {why})" if why else ""))


def not_actioned(events: dict[tuple, dict]) -> dict[str, int]:
    """Reason -> scored customers the act stage gave no retention action (zero counts dropped),
    in the terms of the rule that chose (risk segments, or expected effect under uplift)."""
    written = events.get(("act", "actions_written", None)) or {}
    by_status = written.get("by_status") or {}
    segments = written.get("action_segments")
    if _targeting_method(events) == "uplift":
        no_benefit = int(written.get("no_expected_benefit") or 0)
        reasons = {
            "an action is not expected to help them (uplift: expected effect not above zero)": no_benefit,
            "ranked below the customers an action should help most (uplift)": int(written.get("not_chosen") or 0) - no_benefit,
        }
    else:
        reasons = {f"risk segment not in {segments}" if segments else "risk segment not targeted":
                   int(written.get("not_in_segments") or 0)}
    reasons["already churned"] = int(written.get("excluded_churned") or 0)
    reasons.update(_consent_reasons(events, "act", "marketing"))
    reasons["held out as control group"] = int(by_status.get("control") or 0)
    return {k: v for k, v in reasons.items() if v}


def summary(db_path, run_id: str) -> dict:
    """Everything the terminal summary shows about `run_id`."""
    with db.session(db_path) as con:
        segments = dict(con.execute("SELECT segment, count(*) FROM predictions WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]).fetchall())
        action_segments = dict(con.execute("SELECT segment, count(*) FROM actions WHERE run_id = ? GROUP BY 1", [run_id]).fetchall())
        actions = dict(con.execute("SELECT status, count(*) FROM actions WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]).fetchall())
        durations = con.execute("SELECT stage, duration_s FROM stage_runs WHERE run_id = ? ORDER BY started_at", [run_id]).fetchall()
        customers = con.execute("SELECT count(*) FROM customers").fetchone()[0] if db.table_exists(con, "customers") else 0
        model = con.execute("SELECT model_version, algorithm, metrics FROM model_registry WHERE run_id = ?", [run_id]).fetchone()
        n_events = con.execute("SELECT count(*) FROM audit_log WHERE run_id = ?", [run_id]).fetchone()[0]
        consent_records = con.execute("SELECT count(*) FROM consent").fetchone()[0]
        ingest = con.execute("SELECT summary FROM ingest_log WHERE run_id = ? ORDER BY ingested_at DESC LIMIT 1", [run_id]).fetchone()
        provider = con.execute("SELECT llm_provider FROM runs WHERE run_id = ?", [run_id]).fetchone()
        events = _latest_events(con, run_id)
    provider = (provider[0] if provider else None) or "local"
    stages_run = {stage for stage, _ in durations}
    return {"customers": customers, "scored": sum(segments.values()), "segments": segments, "actions": actions,
            "durations": durations, "model": model, "audit_events": n_events, "consent_records": consent_records,
            "ingest": json.loads(ingest[0]) if ingest and ingest[0] else None, "provider": provider,
            "predicted": "predict" in stages_run, "acted": "act" in stages_run,
            "not_scored": not_scored(events), "not_actioned": not_actioned(events), "targeting": targeting(events),
            "action_segments": action_segments,
            "model_decision": events.get(("train", "model_decision", None)),
            "no_model_reason": (events.get(("predict", "predictions_written", None)) or {}).get("no_model_reason"),
            "incremental": incremental.describe(events),
            "llm": [h for h in (llm_health(events, s, provider) for s in LLM_EVENTS) if h is not None]}


def stage_llm_health(db_path, run_id: str, stage: str) -> LLMHealth | None:
    with db.session(db_path) as con:
        provider = con.execute("SELECT llm_provider FROM runs WHERE run_id = ?", [run_id]).fetchone()
        events = _latest_events(con, run_id)
    return llm_health(events, stage, (provider[0] if provider else None) or "local")
