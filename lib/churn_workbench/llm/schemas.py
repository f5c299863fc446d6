"""JSON schemas for LLM replies, and their validation in our code.

Two layers on purpose. The *wire* schema goes into `response_format` and keeps to the subset
every strict-mode backend accepts (objects with all fields required and no extra properties,
enums, arrays); the *validation* schema adds the ranges and lengths we enforce ourselves, so a
backend that ignores or rejects those keywords cannot weaken the contract.

A reply is checked in two steps: the envelope (`{"results": [...]}`) as a whole, then each
result on its own, so one malformed result costs a retry of that item, not of the batch.
"""
from __future__ import annotations

import copy
from functools import lru_cache

from ..vocab import SENTIMENT_LABELS, TOPICS  # noqa: F401  (re-exported)
SUMMARY_MAX_CHARS = 200

ANALYSIS = "analysis"
ACTION = "action"
SCHEMA_NAMES = {ANALYSIS: "feedback_analysis", ACTION: "retention_actions"}


def _envelope(item: dict) -> dict:
    return {
        "type": "object",
        "properties": {"results": {"type": "array", "items": item}},
        "required": ["results"],
        "additionalProperties": False,
    }


def _object(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _analysis_item(strict_values: bool) -> dict:
    item = _object({
        "ref": {"type": "string"},
        "sentiment": {"type": "number"},
        "label": {"type": "string", "enum": list(SENTIMENT_LABELS)},
        "topics": {"type": "array", "items": {"type": "string", "enum": list(TOPICS)}},
        "summary": {"type": "string"},
    })
    if strict_values:
        item["properties"]["sentiment"].update(minimum=-1, maximum=1)
        item["properties"]["summary"]["maxLength"] = SUMMARY_MAX_CHARS
        item["properties"]["topics"]["uniqueItems"] = True
    return item


def _action_item(action_types: tuple[str, ...], channels: tuple[str, ...], strict_values: bool) -> dict:
    # offer_id is a plain string here: whether an offer exists and suits the segment is policy
    # (llm/policy.py), which replaces a bad choice instead of retrying it.
    item = _object({
        "ref": {"type": "string"},
        "offer_id": {"type": "string"},
        "action_type": {"type": "string", "enum": list(action_types)},
        "channel": {"type": "string", "enum": list(channels)},
        "discount_pct": {"type": "number"},
        "message": {"type": "string"},
    })
    if strict_values:
        item["properties"]["discount_pct"].update(minimum=0, maximum=100)
    return item


def wire_schema(task: str, action_types: tuple[str, ...] = (), channels: tuple[str, ...] = ()) -> dict:
    """The schema sent in `response_format` (strict-mode subset only)."""
    if task == ANALYSIS:
        return _envelope(_analysis_item(strict_values=False))
    return _envelope(_action_item(action_types, channels, strict_values=False))


def response_format(task: str, schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAMES[task], "strict": True, "schema": schema}}


@lru_cache(maxsize=16)
def _validators(task: str, action_types: tuple[str, ...], channels: tuple[str, ...]):
    # Imported here: jsonschema costs about a second to import and offline runs never need it.
    from jsonschema import Draft202012Validator

    if task == ANALYSIS:
        item = _analysis_item(strict_values=True)
    else:
        item = _action_item(action_types, channels, strict_values=True)
    envelope = copy.deepcopy(_envelope({"type": "object"}))
    return Draft202012Validator(envelope), Draft202012Validator(item)


def split_results(task: str, content, action_types: tuple[str, ...] = (),
                  channels: tuple[str, ...] = ()) -> tuple[dict[str, dict], int]:
    """Validate a parsed reply. Returns ({ref: valid result}, number of invalid results).

    Raises ValueError if the envelope itself is wrong (the whole request is retried).
    A ref that appears twice keeps its first valid result.
    """
    envelope, item = _validators(task, tuple(action_types), tuple(channels))
    if not isinstance(content, dict) or not envelope.is_valid(content):
        raise ValueError("reply envelope does not match the schema")
    valid: dict[str, dict] = {}
    invalid = 0
    for result in content["results"]:
        if item.is_valid(result) and isinstance(result.get("ref"), str):
            valid.setdefault(result["ref"], result)
        else:
            invalid += 1
    return valid, invalid
