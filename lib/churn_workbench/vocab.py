"""The workbench's fixed vocabularies: the one place each name and boundary is defined.

Anything that names a stage, a consent purpose, a segment, a sentiment label, a feedback topic
or a column role imports it from here, so two modules can never disagree about it.
"""
from __future__ import annotations

from .profiles import PROFILES

STAGES = ("ingest", "feedback", "train", "predict", "act")

# The built-in LLM backends and LLM profiles, by name: what the command line offers without
# importing the LLM layer. llm/registry.py registers these backends and profiles.py defines
# these profiles (a test keeps the three in step).
LLM_BACKENDS = ("local", "groq", "openai")
# Backends registered in code besides those (llm.registry.register_provider adds their names):
# a backend's name is checked against both at the boundary, without importing the backends.
REGISTERED_BACKENDS: set[str] = set()
LLM_PROFILES = tuple(PROFILES)  # the profiles themselves: profiles.py (no imports, light)
# The structured-output modes of an LLM request, strictest first (llm/engine.py degrades along
# them), and the reasoning efforts an OpenAI-compatible endpoint takes for reasoning models.
LLM_RESPONSE_FORMATS = ("json_schema", "json_object", "text")
REASONING_EFFORTS = ("minimal", "low", "medium", "high")

# Consent purposes (see consent.py for what each one allows).
PURPOSES = ("profiling", "external_llm", "marketing")

# Risk segments, highest first; customers with no score are shown as NOT_SCORED.
# The train stage's --retrain: "auto" lets the retraining policy keep the deployed model
# (model/retraining.py), "always" trains a new one.
RETRAIN_CHOICES = ("auto", "always")
SEGMENTS = ("High", "Medium", "Low")
NOT_SCORED = "not scored"

TOPICS = (
    "price", "network_quality", "customer_support", "billing", "contract",
    "competitor", "product_features", "cancellation_intent", "praise",
)

SENTIMENT_LABELS = ("negative", "neutral", "positive")
# VADER's own convention: |score| < 0.05 is neutral, the boundaries themselves are not.
SENTIMENT_NEUTRAL_BAND = 0.05


def sentiment_label(score: float | None) -> str | None:
    """Label of a sentiment score in [-1, 1]: >= 0.05 positive, <= -0.05 negative, else neutral."""
    if score is None or score != score:  # None or NaN
        return None
    if score >= SENTIMENT_NEUTRAL_BAND:
        return "positive"
    if score <= -SENTIMENT_NEUTRAL_BAND:
        return "negative"
    return "neutral"


def sentiment_label_sql(expr: str) -> str:
    """The same rule as `sentiment_label`, as a SQL CASE over the numeric SQL expression `expr`."""
    band = repr(float(SENTIMENT_NEUTRAL_BAND))
    return (f"CASE WHEN {expr} IS NULL OR isnan({expr}) THEN NULL WHEN {expr} >= {band} THEN 'positive' "
            f"WHEN {expr} <= -{band} THEN 'negative' ELSE 'neutral' END")


# Column roles of a customers table. The identifier roles name what a column holds about the
# person; they are never features and never leave the machine.
IDENTIFIER_ROLES = ("name", "email", "phone", "identifier")
ROLES = ("id", "label", "feature", "excluded", "sensitive", "consent", *IDENTIFIER_ROLES)
# Default column name for each identifier role when the data config does not say otherwise.
DEFAULT_IDENTIFIER_COLUMNS = {"name": "name", "email": "email", "phone": "phone"}
