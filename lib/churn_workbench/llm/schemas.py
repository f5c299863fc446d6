"""JSON schemas for LLM replies, and their validation in our code.

The *wire* schema is built per request and makes invalid answers impossible wherever the server
enforces it (a grammar on llama.cpp, strict structured outputs on Groq/OpenAI): exactly one
result per ref (`minItems` = `maxItems` = the batch size, refs as an enum), topics and offer ids
as enums with `maxItems`/`uniqueItems`, length limits, and a sentiment whose sign agrees with
its label (one variant per label). `keywords="portable"` keeps to what every strict-mode
backend accepts (enums, arrays, required fields, no extra properties).

The *validation* here repeats every rule in our own code, so a server that ignores a keyword
cannot weaken the contract. A reply is checked as an envelope, then per result, so one bad
result costs a retry of that item, not of the batch. Repeated topics are merged (harmless);
a label that contradicts its score, or an empty summary, makes the result invalid.
"""
from __future__ import annotations

import math

from ..vocab import SENTIMENT_LABELS, TOPICS  # noqa: F401  (re-exported)

SUMMARY_MAX_CHARS = 200
SUMMARY_WIRE_CHARS = 160       # asked of the model; validation allows SUMMARY_MAX_CHARS
MAX_TOPICS = 4
ANALYSIS = "analysis"
ACTION = "action"
SCHEMA_NAMES = {ANALYSIS: "feedback_analysis", ACTION: "retention_actions"}
# The scores a model may give per label on the wire (a grammar cannot enforce ranges on numbers).
SENTIMENT_STEPS = {"negative": [-1.0, -0.75, -0.5, -0.25], "neutral": [0.0], "positive": [0.25, 0.5, 0.75, 1.0]}


def _object(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _envelope(item: dict, refs: list[str] | None = None) -> dict:
    results = {"type": "array", "items": item}
    if refs:
        results.update(minItems=len(refs), maxItems=len(refs))
    return _object({"results": results})


def _ref(refs: list[str] | None) -> dict:
    return {"type": "string", "enum": list(refs)} if refs else {"type": "string"}


def _analysis_item(refs: list[str] | None, keywords: str) -> dict:
    topics = {"type": "array", "items": {"type": "string", "enum": list(TOPICS)}, "maxItems": MAX_TOPICS}
    summary = {"type": "string"}
    if keywords == "full":
        topics["uniqueItems"] = True
        summary.update(minLength=1, maxLength=SUMMARY_WIRE_CHARS)
    base = {"ref": _ref(refs), "summary": summary, "topics": topics}
    if keywords != "full":
        return _object({**base, "label": {"type": "string", "enum": list(SENTIMENT_LABELS)},
                        "sentiment": {"type": "number"}})
    # One variant per label, each with the scores of its sign: the grammar cannot produce a
    # "positive" label with a negative score.
    return {"anyOf": [_object({**base, "label": {"type": "string", "enum": [label]},
                               "sentiment": {"type": "number", "enum": SENTIMENT_STEPS[label]}})
                      for label in SENTIMENT_LABELS]}


def discount_steps(max_discount: float, default: float = 0.0) -> list[float]:
    """The discounts a model may choose for an offer: multiples of 5 up to its maximum."""
    steps = {float(x) for x in range(0, int(max_discount) + 1, 5)} | {float(default)}
    return sorted(x for x in steps if 0 <= x <= max_discount)


def _action_item(refs: list[str] | None, offers, keywords: str) -> dict:
    # The model only chooses: an offer, a channel, a discount. The message is the catalogue's own
    # wording for that offer, so nothing the model writes is ever shown to a customer.
    if keywords != "full":
        return _object({"ref": _ref(refs), "offer_id": {"type": "string", "enum": [o.id for o in offers]},
                        "channel": {"type": "string", "enum": sorted({c for o in offers for c in o.channels})},
                        "discount_pct": {"type": "number"}})
    # One variant per offer: only that offer's channels and discounts can be produced.
    return {"anyOf": [_object({"ref": _ref(refs), "offer_id": {"type": "string", "enum": [o.id]},
                               "channel": {"type": "string", "enum": list(o.channels)},
                               "discount_pct": {"type": "number",
                                                "enum": discount_steps(o.max_discount_pct, o.default_discount_pct)}})
                      for o in offers]}


def wire_schema(task: str, offers=(), refs: list[str] | None = None, keywords: str = "full") -> dict:
    """The schema sent in `response_format` for one request (refs = that request's refs; offers =
    the catalogue offers the request's customers are eligible for)."""
    if task == ANALYSIS:
        return _envelope(_analysis_item(refs, keywords), refs)
    return _envelope(_action_item(refs, offers, keywords), refs)


def response_format(task: str, schema: dict, mode: str = "json_schema") -> dict | None:
    """The `response_format` of a request in capability `mode` (None: not sent, plain text)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAMES[task], "strict": True, "schema": schema}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def analysis_problem(result: dict) -> str | None:
    """Why one analysis result is unusable (None = valid). Repeated topics are not a problem."""
    if not isinstance(result, dict) or not isinstance(result.get("ref"), str):
        return "no_ref"
    score, label, topics, summary = (result.get(k) for k in ("sentiment", "label", "topics", "summary"))
    if not _number(score) or not -1 <= score <= 1:
        return "sentiment_out_of_range"
    if label not in SENTIMENT_LABELS:
        return "unknown_label"
    if (label == "positive" and score <= 0) or (label == "negative" and score >= 0) or \
            (label == "neutral" and abs(score) > 0.5):
        return "label_contradicts_score"
    if not isinstance(topics, list) or not all(t in TOPICS for t in topics):
        return "unknown_topic"
    if not isinstance(summary, str) or not summary.strip():
        return "empty_summary"
    if len(summary) > SUMMARY_MAX_CHARS:
        return "summary_too_long"
    return None


def action_problem(result: dict, offer_ids=(), channels=()) -> str | None:
    """Why one action result is unusable as a choice (None = valid). Policy is checked later."""
    if not isinstance(result, dict) or not isinstance(result.get("ref"), str):
        return "no_ref"
    if not isinstance(result.get("offer_id"), str):
        return "no_offer"
    if channels and result.get("channel") not in channels:
        return "unknown_channel"
    if not _number(result.get("discount_pct")):
        return "discount_not_a_number"
    return None


def split_results(task: str, content, offer_ids: tuple[str, ...] = (), channels: tuple[str, ...] = ()
                  ) -> tuple[dict[str, dict], int]:
    """Validate a parsed reply. Returns ({ref: valid result}, number of invalid results).

    Raises ValueError if the envelope itself is wrong (the whole request is retried).
    A ref that appears twice keeps its first valid result. Keys we do not use are dropped
    (never stored); topics are de-duplicated in taxonomy order.
    """
    if not isinstance(content, dict) or not isinstance(content.get("results"), list):
        raise ValueError("reply envelope does not match the schema")
    valid: dict[str, dict] = {}
    invalid = 0
    for result in content["results"]:
        if task == ANALYSIS:
            problem = analysis_problem(result)
            keep = ("ref", "sentiment", "label", "topics", "summary")
        else:
            problem = action_problem(result, offer_ids, channels)
            keep = ("ref", "offer_id", "channel", "discount_pct")
        if problem:
            invalid += 1
            continue
        clean = {k: result[k] for k in keep}
        if task == ANALYSIS:
            clean["topics"] = [t for t in TOPICS if t in set(clean["topics"])]
        valid.setdefault(clean["ref"], clean)
    return valid, invalid
