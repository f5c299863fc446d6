"""Incremental runs: a run works only on what changed since the last one, and says so.

What each stage keeps from the newest earlier run, and by which key:

- ingest: identical inputs (file sha256s or generator parameters, and the erasure and
  retention filters) are not read at all (`data_unchanged`);
- feedback: a text whose source (text + the customer's identifiers) is unchanged keeps its
  anonymized text (`anonymized`: texts, reused), and its offline analysis when it was analysed
  offline then and is now (`analysis_reused`: items, analysed); answers of an external model come
  from the analysis cache, so nothing is sent twice;
- train: unchanged training data reuses the registered model (`model_reused`), and so does a
  small change the retraining policy allows (model/retraining.py; `model_reused` with policy
  "retraining", else `retraining` says why a new model is trained);
- predict: a customer whose feature row and model are unchanged keeps the score and drivers
  (`predictions_written`: rows, reused_unchanged);
- act: a customer whose action context (segment, risk band, drivers, topics, sentiment) is
  unchanged, whose action was the offline catalogue's choice and who stays offline now keeps
  that action (`actions_reused`: items, proposed).

`describe(events)` turns those audit events into the run summary's "incremental" line.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import audit as audit_mod
from .llm import local, prompts, schemas
from .llm.context import action_context

# feedback_analysis columns an unchanged, offline-analysed text carries over to the new run.
REUSED_ANALYSIS_COLUMNS = ("sentiment", "sentiment_label", "topics", "summary", "status", "provider", "model",
                           "prompt_version", "cache_key", "prompt_tokens", "completion_tokens")
EVENTS = ("data_unchanged", "data_ingested", "anonymized", "analysis_reused", "model_reused", "model_trained",
          "retraining", "predictions_written", "actions_reused")


def reusable_offline_analyses(feedback: pd.DataFrame, previous: pd.DataFrame, allowed: np.ndarray,
                              provider: str) -> pd.DataFrame:
    """Per feedback row, in order: `reused` (True when its earlier offline analysis stands) and
    the earlier analysis columns, with this row's feedback_id and customer_id.

    An analysis is reused only when the source is unchanged, it was made by the current offline
    analyzer (same model and version), and the text stays offline now (backend `local`, or no
    external_llm consent): a text that may now go to the model is analysed afresh.
    """
    offline_now = np.full(len(feedback), provider == "local") | ~np.asarray(allowed, dtype=bool)
    prev = previous.drop_duplicates("source_sha256").set_index("source_sha256")
    current = (prev["status"].eq("local") & prev["model"].eq(local.LOCAL_MODEL)
               & prev["prompt_version"].eq(local.LOCAL_VERSION[schemas.ANALYSIS]))
    prev = prev[current]
    found = prev.reindex(feedback["source_sha256"].to_numpy())
    reused = found["status"].notna().to_numpy() & offline_now
    out = found.reset_index(drop=True)[list(REUSED_ANALYSIS_COLUMNS)]
    out.insert(0, "customer_id", feedback["customer_id"].to_numpy())
    out.insert(0, "feedback_id", feedback["feedback_id"].to_numpy())
    out["reused"] = reused
    return out


# actions columns an unchanged, offline-chosen action carries over to the new run.
REUSED_ACTION_COLUMNS = ("action_type", "channel", "discount_pct", "message", "status", "provider", "model",
                         "prompt_version")


def action_context_keys(requests, catalogue_version: str) -> list[str]:
    """Per action request: the sha256 of everything the catalogue's choice depends on (its coarse
    context, the catalogue's version and the offline chooser's version)."""
    tail = f"\x1f{catalogue_version}\x1f{local.LOCAL_MODEL}\x1f{local.LOCAL_VERSION[schemas.ACTION]}"
    return [audit_mod.sha256_hex(prompts.json_compact(action_context(r)) + tail) for r in requests]


def reusable_offline_actions(customer_ids, keys: list[str], previous: pd.DataFrame, offline_now: np.ndarray) -> pd.DataFrame:
    """Per request, in order: `reused` (True when its earlier offline action stands) and that
    action's columns. `previous`: the newest run's actions with customer_id, context_sha256 and
    REUSED_ACTION_COLUMNS. Only the catalogue's own choice (provider local, status ok) of the
    same customer in the same context is reused, and only while the customer stays offline."""
    prev = previous[previous["provider"].eq("local") & previous["status"].eq("ok")
                    & previous["prompt_version"].eq(local.LOCAL_VERSION[schemas.ACTION])]
    prev = prev.drop_duplicates(["customer_id", "context_sha256"]).set_index(["customer_id", "context_sha256"])
    found = prev.reindex(pd.MultiIndex.from_arrays([list(customer_ids), keys]))
    out = found.reset_index(drop=True)[list(REUSED_ACTION_COLUMNS)]
    out["reused"] = found["status"].notna().to_numpy() & np.asarray(offline_now, dtype=bool)
    return out


def describe(events: dict[tuple, dict]) -> str | None:
    """One line: what this run worked on and what it kept (from its audit events), or None."""
    get = lambda stage, event: events.get((stage, event, None))  # noqa: E731
    parts = []
    if get("ingest", "data_unchanged") is not None:
        parts.append("inputs unchanged (not read)")
    anonymized, reused = get("feedback", "anonymized"), get("feedback", "analysis_reused")
    if anonymized is not None:
        texts, kept = int(anonymized.get("texts") or 0), int(anonymized.get("reused") or 0)
        line = f"feedback {texts:,} new or changed of {texts + kept:,} anonymized"
        if reused is not None:
            line += f", {int(reused.get('analysed') or 0):,} analysed ({int(reused.get('items') or 0):,} analyses kept)"
        parts.append(line)
    kept = get("train", "model_reused")
    if kept is not None and kept.get("policy") == "retraining":
        parts.append(f"model kept ({100 * float(kept.get('changed_share') or 0):.2f}% of its labelled rows changed; "
                     "retraining policy)")
    elif kept is not None:
        parts.append("model reused (training data unchanged)")
    elif get("train", "model_trained") is not None:
        retrain = get("train", "retraining")
        parts.append("model retrained" + (f" ({retrain.get('reason')})" if retrain and retrain.get("reason") else ""))
    written = get("predict", "predictions_written")
    if written is not None:
        rows, same = int(written.get("rows") or 0), int(written.get("reused_unchanged") or 0)
        parts.append(f"{rows - same:,} customers scored ({same:,} unchanged kept their score)")
    acted = get("act", "actions_reused")
    if acted is not None:
        parts.append(f"{int(acted.get('proposed') or 0):,} actions proposed ({int(acted.get('items') or 0):,} unchanged "
                     "kept their action)")
    return "; ".join(parts) or None
