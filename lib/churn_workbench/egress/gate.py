"""The request gate: the exact payload about to leave, judged by the allow rule alone.

`denials(payload, trusted)` parses the exact bytes the engine is about to send. Strings the
product wrote itself for this request (system prompt, schema, model id, refs: `trusted`) pass
as they are; every other string -- above all the user message, a JSON array of items, whose
every key and value is read, numbers too -- must consist of allowed tokens and placeholders
only (allow.py). Non-JSON text is judged as text. Nothing here calls the PII finder: a span the
anonymizer's detectors missed is still unknown to the allow rule, so it cannot pass both.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from . import allow

_MAX_DEPTH = 6


@dataclass(frozen=True)
class Refusal:
    """Why (never what) a payload may not leave: the label of a token that is not allowed."""

    entity_type: str


def trusted_strings(*values) -> frozenset[str]:
    """Every string (keys too) inside `values`: what the product itself wrote."""
    out: set[str] = set()

    def walk(v) -> None:
        if isinstance(v, str):
            out.add(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                out.add(str(k))
                walk(x)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for x in v:
                walk(x)

    for v in values:
        walk(v)
    return frozenset(out)


def denials(payload: str, trusted: Iterable[str] = frozenset()) -> list[Refusal]:
    """What in `payload` may not leave, one Refusal per label (sorted); empty: send it."""
    trusted = trusted if isinstance(trusted, frozenset) else frozenset(trusted)
    labels: set[str] = set()
    try:
        data = json.loads(payload) if payload.lstrip()[:1] in ("{", "[") else None
    except ValueError:
        data = None
    if data is None:
        labels |= _text(payload)
    elif isinstance(data, dict) and "messages" in data:
        _walk(data, trusted, labels, 0)  # a request body: its own numbers are settings
    else:
        _walk_nested(data, trusted, labels, 0)  # content: every number is read too
    return [Refusal(label) for label in sorted(labels)]


def _walk(value, trusted: frozenset[str], labels: set[str], depth: int) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in trusted:
                labels.update(_text(str(key)))
            _walk(item, trusted, labels, depth)
    elif isinstance(value, list):
        for item in value:
            _walk(item, trusted, labels, depth)
    elif isinstance(value, str):
        if value in trusted:
            return
        nested = _nested_json(value) if depth < _MAX_DEPTH else None
        if nested is not None:
            # The user message is a JSON array of items: read inside it, numbers included.
            _walk_nested(nested, trusted, labels, depth + 1)
        else:
            labels.update(_text(value))
    # numbers, booleans and null at the top level are the request's own settings (max_tokens)


def _walk_nested(value, trusted: frozenset[str], labels: set[str], depth: int) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        labels.update(_text(json.dumps(value)))
    elif isinstance(value, (dict, list, str)):
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in trusted:
                    labels.update(_text(str(key)))
                _walk_nested(item, trusted, labels, depth)
        elif isinstance(value, list):
            for item in value:
                _walk_nested(item, trusted, labels, depth)
        else:
            _walk(value, trusted, labels, depth)


def _nested_json(value: str):
    head = value.lstrip()[:1]
    if head not in ("{", "["):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _text(text: str) -> set[str]:
    return {d.label for d in allow.denied(text)}
