"""What an action request may carry: coarse, non-identifying context (minimisation).

The one home of that rule: the act stage builds requests with it, and erasure
(subjects/holdings.py) rebuilds the contexts a customer's actions carried with it.
"""
from __future__ import annotations

import re

from . import prompts, schemas
from .base import ActionRequest
from .policy import SEGMENTS

_DRIVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.=-]{0,47}$")  # a feature name, not free text


def action_context(request: ActionRequest) -> dict:
    """Coarse, non-identifying context: all an action request may carry."""
    segment = request.segment if request.segment in SEGMENTS else "Low"
    drivers = [d for d in (str(x) for x in (request.drivers or [])) if _DRIVER_NAME.match(d)][:3]
    topics = [t for t in schemas.TOPICS if t in set(request.topics or [])]
    label = request.sentiment_label if request.sentiment_label in schemas.SENTIMENT_LABELS else "unknown"
    return {"segment": segment, "risk": prompts.risk_band(request.churn_probability), "drivers": drivers,
            "topics": topics, "sentiment": label}
