"""What the dashboard's readers see instead of the workbench's internal names: plain labels with
units, what each technical figure means in one line, and values formatted one way everywhere
(a probability is always "85.3%", an effect always "+13.9 points", a time "2026-01-02 08:03 UTC",
a hash its first 12 characters).

The data layer (`data.py`) keeps the store's names, so its queries stay testable against the
schema; the widgets pass every table through `readable` before showing it.
"""
from __future__ import annotations

import json
import math
from typing import Callable

import pandas as pd

from ..vocab import SEGMENTS

HASH_CHARS = 12

# Column -> label shown. A column not listed keeps its name with underscores as spaces.
LABELS = {
    "customer_id": "Customer", "segment": "Risk segment", "churn_probability": "Churn probability",
    "sentiment_label": "Feedback mood", "sentiment": "Mood score (-1 to +1)", "topics": "Topics",
    "n_feedback": "Feedback items", "action_type": "Retention action", "action_status": "Action status",
    "consent_profiling": "May be scored", "consent_external_llm": "Feedback may go to external AI",
    "consent_marketing": "May be contacted", "run_id": "Run", "status": "Status", "started_at": "Started (UTC)",
    "finished_at": "Finished (UTC)", "duration_s": "Duration", "llm_provider": "AI service", "stages": "Stages run",
    "error": "Error", "has_manifest": "Manifest written", "stage": "Stage", "notebook_path": "Executed notebook",
    "notebook_sha256": "Notebook fingerprint (sha256)", "manifest_sha256_matches": "Matches the manifest",
    "model_version": "Model version", "algorithm": "Method", "n_train": "Labelled customers trained on",
    "trained_at": "Trained (UTC)", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "brier": "Brier score", "ece": "ECE",
    "log_loss": "Log loss", "training_data": "Training data", "data_set": "Input data",
    "purpose": "Purpose", "customers": "Customers", "granted": "Granted", "refused_or_withdrawn": "Refused or withdrawn",
    "no_record": "No record (= no consent)", "granted_pct": "Granted", "entity_type": "Kind of personal data",
    "count": "Replaced", "sent_at": "Sent (UTC)", "provider": "AI service", "model": "AI model",
    "prompt_version": "Prompt version", "n_items": "Items", "outcome": "Outcome", "prompt_tokens": "Tokens sent",
    "completion_tokens": "Tokens received", "payload_sha256": "Fingerprint (sha256)", "payload": "Exactly what was sent",
    "requests": "Requests", "items": "Items", "not_ok": "Failed requests", "avg_latency_ms": "Average wait (ms)",
    "est_cost_usd": "Estimated cost (USD)", "seq": "#", "ts": "When (UTC)", "event_type": "Event",
    "subject_ref": "Customer pseudonym", "details": "Details", "hash_prefix": "Chain hash", "meaning": "What it means",
    "events": "Events", "latest": "Latest (UTC)", "feedback_id": "Feedback", "created_at": "Written (UTC)",
    "channel": "Channel", "anonymized_text": "Feedback (anonymized)", "summary": "Summary", "rank": "Rank",
    "feature": "Customer attribute", "value": "This customer's value", "contribution": "Weight",
    "discount_pct": "Discount (%)", "message": "Message to the customer", "decision": "Decision",
    "group": "Group", "treated": "Contacted", "control": "Held out", "churn_treated": "Left, contacted",
    "churn_control": "Left, held out", "effect": "Effect", "ci_low": "95% range from", "ci_high": "95% range to",
    "scored": "Customers scored", "actions": "Retention actions", "analysed_feedback": "Feedback analysed",
    "llm_requests": "Requests to an external AI", "audit_events": "Audit events", "artefact": "Artefact",
    "sha256": "Fingerprint (sha256)", "path": "File", "verdict": "Verdict",
}

ACTION_STATUS = {
    "ok": "proposed", "proposed": "proposed", "cached": "proposed (reused)", "local": "proposed (offline)",
    "fallback": "catalogue offer (AI did not answer)", "policy_fallback": "catalogue offer (AI text rejected)",
    "blocked": "catalogue offer (kept home: personal data)", "control": "held out (control group)",
    "no action": "no action",
}

PURPOSES = {
    "profiling": "Scoring (profiling)", "external_llm": "Feedback to an external AI, anonymized",
    "marketing": "Contact with an offer (marketing)",
}

ENTITIES = {
    "PERSON": "names", "EMAIL": "e-mail addresses", "PHONE": "phone numbers", "CREDIT_CARD": "card numbers",
    "IBAN": "bank accounts (IBAN)", "ACCOUNT_NUMBER": "account and reference numbers", "ADDRESS": "street addresses",
    "POSTCODE": "postcodes", "DATE": "dates", "DOB": "dates of birth", "IP_ADDRESS": "IP addresses", "URL": "web links",
    "HANDLE": "social media handles", "NATIONAL_ID": "national id numbers", "SSN": "social security numbers",
    "PASSPORT": "passport numbers", "CUSTOMER_ID": "customer ids", "NUMBER": "other long numbers",
}

# Audit events: what each one records, in a reader's words.
EVENTS = {
    "run_started": "a pipeline run began", "run_resumed": "an interrupted run was continued",
    "run_finished": "a run ended", "stage_started": "a stage began", "stage_finished": "a stage ended",
    "stage_failed": "a stage failed", "data_ingested": "inputs were read and checked",
    "data_unchanged": "inputs were the same as last time", "consent_checked": "consent was checked for a purpose",
    "consent_excluded": "a customer was left out: no consent for this purpose",
    "consent_excluded_unchanged": "customers left out last time were left out again (one record for all of them)",
    "training_consent_checked": "consent to profiling was checked for training", "anonymized": "feedback was anonymized",
    "feedback_analysed": "feedback was analysed", "model_trained": "a model was trained",
    "model_reused": "the model was reused (training data unchanged)",
    "model_not_promoted": "a new model failed the quality gate; the previous one was kept",
    "model_loaded": "the model was loaded (its fingerprint checked)", "leakage_warning": "a column looked like a leak",
    "training_skipped": "no model was trained", "predictions_written": "customers were scored",
    "targeting": "customers were chosen for an action", "control_group_assigned": "a control group was held out",
    "actions_written": "retention actions were written", "action_fallback": "a catalogue offer replaced the AI's",
    "action_policy_violation": "the AI's offer broke the policy", "egress_blocked": "a text was kept home (not known to be safe)",
    "egress_batch_split": "a request was split to keep one text home", "llm_request": "a request went to an external AI",
    "llm_send": "a request went to an external AI", "llm_retry": "a request was retried", "llm_fallback":
    "the AI did not answer usably; analysed offline", "llm_output_violation": "the AI's answer broke the rules",
    "llm_budget_exhausted": "the request budget ran out", "llm_egress_reconciled": "requests of a crashed run were accounted for",
    "llm_egress_stopped": "sending stopped", "llm_capability_error": "the AI service lacks a needed feature",
    "llm_capability_degraded": "the AI service fell back to a simpler answer format",
    "llm_internal_error": "an internal error in the AI layer", "rows_committed": "stored rows were fingerprinted",
    "artefacts_sealed": "notebooks and model were fingerprinted", "subject_exported": "a customer's data was exported",
    "subject_erased": "a customer's data was erased", "tombstone_lifted": "an erased customer may be imported again",
    "tombstoned_stripped": "erased customers were left out of an import", "retention_purged": "old data was deleted",
    "outcomes_attached": "observed churn was attached to a run",
}

# One line under each technical figure: what it means for a reader.
MEANS = {
    "roc_auc": "ROC-AUC: how well the model ranks customers who leave above those who stay; 0.5 is guessing, 1 perfect.",
    "pr_auc": "PR-AUC: how precise the model is among the customers it flags; compare with the share who leave.",
    "brier": "Brier score: average squared gap between predicted probability and what happened; lower is better.",
    "ece": "ECE (calibration error): how far a predicted 30% is from 30% of such customers leaving; lower is better.",
    "segments": "Risk segments: High is the top 10% of scored customers by expected loss, Medium the next 20%, "
                "Low the rest.",
    "control": "Control group: customers who would get an offer but are held out at random, so the offers' effect "
               "can be measured.",
    "effect": "Effect: how many percentage points fewer contacted customers left than held-out ones; the 95% range "
              "shows the uncertainty.",
    "qini": "Qini curve: extra customers kept when the top x% by score are contacted; above the dashed line beats "
            "random choice.",
    "pseudonym": "Audit events name customers only by a pseudonym; the dashboard links them to this customer with "
                 "the workbench's key. Erasure destroys the link.",
}


# --------------------------------------------------------------------------------------------
# formatting: one way for each kind of value
# --------------------------------------------------------------------------------------------

def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT \
        or (not isinstance(value, (list, tuple, dict, str)) and pd.isna(value) is True)


def when(value) -> str:
    """A timestamp as "2026-01-02 08:03" (UTC, to the minute)."""
    if _missing(value) or value == "":
        return ""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return f"{stamp:%Y-%m-%d %H:%M}"


def pct(value, digits: int = 1) -> str:
    """A share (0.853) as a percentage ("85.3%")."""
    return "" if _missing(value) else f"{float(value):.{digits}%}"


def points(value, digits: int = 1) -> str:
    """A difference of two shares (0.139) in percentage points ("+13.9 points")."""
    return "" if _missing(value) else f"{100 * float(value):+.{digits}f} points"


def short(value, chars: int = HASH_CHARS) -> str:
    """A hash or long id cut to its first characters ("a13bcce91034…")."""
    text = "" if _missing(value) else str(value)
    return text if len(text) <= chars + 1 else text[:chars] + "…"


def yes_no(value, missing: str = "no record") -> str:
    if _missing(value):
        return missing
    return "yes" if bool(value) else "no"


def seconds(value) -> str:
    if _missing(value):
        return ""
    s = float(value)
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(round(s % 60)):02d} s"


def number(value, digits: int = 0) -> str:
    return "" if _missing(value) else f"{float(value):,.{digits}f}"


def status(value) -> str:
    return ACTION_STATUS.get(str(value), str(value).replace("_", " "))


def event(value) -> str:
    return EVENTS.get(str(value), str(value).replace("_", " "))


def entity(value) -> str:
    return ENTITIES.get(str(value), str(value).replace("_", " ").lower())


def purpose(value) -> str:
    return PURPOSES.get(str(value), str(value).replace("_", " "))


def details(text, limit: int = 220) -> str:
    """An audit event's JSON details as "key: value; key: value", nested values compact, cut
    at `limit` characters (the full event is one click away)."""
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        value = text
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            shown = json.dumps(v, separators=(", ", ": "), ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)
            parts.append(f"{k.replace('_', ' ')}: {shown}")
        out = "; ".join(parts)
    else:
        out = "" if _missing(value) else str(value)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def segment_key(segment) -> tuple:
    """High, Medium, Low first, in that order; then the rest alphabetically."""
    return (SEGMENTS.index(segment) if segment in SEGMENTS else len(SEGMENTS), str(segment))


# Column -> formatter; columns not listed are shown as they are.
FORMATS: dict[str, Callable] = {
    "churn_probability": pct, "granted_pct": lambda v: "" if _missing(v) else f"{float(v):.1f}%",
    "churn_treated": pct, "churn_control": pct, "effect": points, "ci_low": points, "ci_high": points,
    "started_at": when, "finished_at": when, "trained_at": when, "sent_at": when, "ts": when, "created_at": when,
    "latest": when, "scored_at": when, "duration_s": seconds, "model_version": short, "payload_sha256": short,
    "notebook_sha256": short, "sha256": short, "hash_prefix": short, "subject_ref": short,
    "training_data": lambda v: "–" if _missing(v) else str(v),
    "consent_profiling": yes_no, "consent_external_llm": yes_no, "consent_marketing": yes_no,
    "has_manifest": lambda v: yes_no(v, "–"), "manifest_sha256_matches": lambda v: yes_no(v, "no manifest"),
    "action_status": status, "event_type": event, "entity_type": entity, "purpose": purpose,
    "roc_auc": lambda v: number(v, 3), "pr_auc": lambda v: number(v, 3), "brier": lambda v: number(v, 3),
    "ece": lambda v: number(v, 3), "log_loss": lambda v: number(v, 3), "sentiment": lambda v: number(v, 2),
    "est_cost_usd": lambda v: "" if _missing(v) else f"${float(v):,.4f}", "details": details,
    "avg_latency_ms": number, "discount_pct": lambda v: "" if _missing(v) else f"{float(v):g}",
    "notebook_path": lambda v: "" if _missing(v) else str(v).rsplit("/", 1)[-1],
}


def readable(frame: pd.DataFrame | None, columns: list[str] | None = None,
             formats: dict[str, Callable] | None = None) -> pd.DataFrame | None:
    """`frame` as a reader sees it: only `columns` (in that order, when given), every value
    formatted (FORMATS, then `formats`), plain column labels."""
    if frame is None:
        return None
    shown = frame[[c for c in columns if c in frame.columns]].copy() if columns else frame.copy()
    rules = {**FORMATS, **(formats or {})}
    for column in shown.columns:
        rule = rules.get(column)
        if rule is not None:
            shown[column] = [rule(v) for v in shown[column]]
        elif column == "status" and "action_type" in frame.columns:
            shown[column] = [status(v) for v in shown[column]]
    return shown.rename(columns=lambda c: LABELS.get(c, str(c).replace("_", " ")))
