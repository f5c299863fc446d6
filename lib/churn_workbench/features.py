"""The feature frame: the customers' feature columns plus features derived from their feedback.

Topic names come from the caller (the analyzer owns its taxonomy); this module never lists them.
"""
from __future__ import annotations

import json
import re
from typing import Sequence

import numpy as np
import pandas as pd

FEEDBACK_COLUMNS = ("fb_count", "fb_sentiment_mean", "fb_sentiment_min", "fb_days_since_last")


def topic_column(topic: str) -> str:
    """'Billing / Price' -> 'topic_billing_price'."""
    return "topic_" + (re.sub(r"[^0-9a-z]+", "_", str(topic).strip().lower()).strip("_") or "unnamed")


def _parse_topics(value) -> list[str]:
    """A JSON list of topic names (or a list); anything unreadable counts as no topics."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = value
    elif isinstance(value, str) and value.strip():
        try:
            items = json.loads(value)
        except ValueError:
            return []
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            return []
    else:
        return []
    return [str(t).strip().lower() for t in items if isinstance(t, str) and t.strip()]


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}")


def feedback_features(analysis: pd.DataFrame, feedback: pd.DataFrame,
                      topics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-customer features from analysed feedback.

    analysis: one row per analysed feedback item: feedback_id, sentiment (float in [-1, 1], NaN
        when the analysis failed), topics (JSON list of names). Extra columns are ignored; if a
        feedback_id appears more than once, the last row wins.
    feedback: every feedback item: feedback_id, customer_id, created_at (NaT allowed).
    topics: the topic names to flag (the analyzer's taxonomy). None: every topic seen, sorted,
        which makes the column set depend on the data -- pass the taxonomy when you have it.

    Returns one row per customer with feedback, index "customer_id" (string):
        fb_count            number of feedback items (analysed or not)
        fb_sentiment_mean   mean sentiment of the analysed items (NaN if none analysed)
        fb_sentiment_min    most negative sentiment
        fb_days_since_last  days between the customer's latest item and the newest item overall
        topic_<name>        1.0 if any of the customer's items has that topic, else 0.0
    """
    _require(analysis, "analysis", ("feedback_id", "sentiment", "topics"))
    _require(feedback, "feedback", ("feedback_id", "customer_id", "created_at"))
    fb = feedback[["feedback_id", "customer_id", "created_at"]].copy()
    fb["feedback_id"] = fb["feedback_id"].astype(str)
    fb["customer_id"] = fb["customer_id"].astype("string")
    fb["created_at"] = pd.to_datetime(fb["created_at"], errors="coerce")
    an = analysis[["feedback_id", "sentiment", "topics"]].copy()
    an["feedback_id"] = an["feedback_id"].astype(str)
    an = an.drop_duplicates("feedback_id", keep="last")
    merged = fb.merge(an, on="feedback_id", how="left", validate="many_to_one")
    merged["sentiment"] = pd.to_numeric(merged["sentiment"], errors="coerce").clip(-1, 1)

    cust_codes, customers = pd.factorize(merged["customer_id"], sort=True)
    n_cust = len(customers)
    sentiment = merged["sentiment"].to_numpy(dtype=float)
    scored = ~np.isnan(sentiment)
    n_scored = np.bincount(cust_codes[scored], minlength=n_cust)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(cust_codes[scored], sentiment[scored], minlength=n_cust) / n_scored
    by_customer = pd.Series(sentiment).groupby(cust_codes)
    created = merged["created_at"]
    last = created.groupby(cust_codes).max().reindex(range(n_cust))
    out = pd.DataFrame({
        "fb_count": np.bincount(cust_codes, minlength=n_cust).astype(float),
        "fb_sentiment_mean": np.where(n_scored > 0, mean, np.nan),
        "fb_sentiment_min": by_customer.min().reindex(range(n_cust)).to_numpy(),
        "fb_days_since_last": ((created.max() - last).dt.total_seconds() / 86400.0).to_numpy(),
    }, index=pd.Index(customers, dtype="string", name="customer_id"))

    # Parse each distinct topics string once: analyses repeat the same few lists many times.
    codes, uniques = pd.factorize(merged["topics"].astype(object).where(merged["topics"].notna(), None))
    parsed = [_parse_topics(u) for u in uniques]
    wanted = sorted({t for p in parsed for t in p}) if topics is None else [str(t).strip().lower() for t in topics]
    columns = {t: topic_column(t) for t in wanted}
    if len(set(columns.values())) != len(columns):
        raise ValueError("two topic names map to the same column name; rename one of them")
    position = {t: i for i, t in enumerate(columns)}
    # (distinct topics string) x (wanted topic) incidence, then per feedback row, then per customer.
    incidence = np.zeros((len(uniques) + 1, len(columns)), dtype=bool)  # last row: no topics
    for u, names in enumerate(parsed):
        for t in names:
            if t in position:
                incidence[u, position[t]] = True
    per_row = incidence[np.where(codes >= 0, codes, len(uniques))]
    flags = np.zeros((n_cust, len(columns)))
    for j in range(len(columns)):
        flags[np.unique(cust_codes[per_row[:, j]]), j] = 1.0
    flags = pd.DataFrame(flags, index=out.index, columns=list(columns.values()))
    return pd.concat([out, flags], axis=1)


def feature_frame(table_frame: pd.DataFrame, roles: dict[str, str], fb: pd.DataFrame | None) -> pd.DataFrame:
    """The model's input: one row per customer, index "customer_id".

    Columns: the customers columns whose role is "feature" (in file order; identifier, label,
    consent and excluded columns never appear), then the feedback feature columns. Customers
    without feedback get fb_count 0, topic flags 0 (they mentioned no topic) and NaN for the
    sentiment and recency columns (there is nothing to measure). `fb` may be None or empty.
    """
    if "customer_id" not in table_frame.columns:
        raise ValueError("table_frame has no 'customer_id' column; pass CustomerTable.frame")
    features = [c for c in table_frame.columns if roles.get(c) == "feature"]
    ids = table_frame["customer_id"].astype("string")
    if ids.duplicated().any():
        raise ValueError("table_frame has duplicate customer ids; type it with inputs.type_customers")
    X = table_frame[features].copy()
    X.index = pd.Index(ids, name="customer_id")
    if fb is None:
        fb = pd.DataFrame(columns=list(FEEDBACK_COLUMNS), index=pd.Index([], dtype="string", name="customer_id"))
    clash = sorted(set(fb.columns) & set(features))
    if clash:
        raise ValueError(f"customers column(s) {', '.join(clash)} clash with feedback feature names; exclude or rename them")
    fb = fb.copy()
    fb.index = fb.index.astype("string")
    extra = fb.reindex(X.index).astype(float)
    if "fb_count" in extra:
        extra["fb_count"] = extra["fb_count"].fillna(0.0)
    topic_cols = [c for c in extra.columns if c.startswith("topic_")]
    extra[topic_cols] = extra[topic_cols].fillna(0.0)
    return pd.concat([X, extra], axis=1)


# Words that mark a column as a protected or sensitive attribute. Matched against the column
# name's words (split on non-letters and camelCase), so "Gender", "date_of_birth", "SeniorCitizen"
# and "customer_age" are proposed, while "page_views" or "usage" are not.
SENSITIVE_WORDS = frozenset({
    "gender", "sex", "age", "birth", "birthday", "dob", "born", "yob", "senior", "ethnicity", "ethnic", "race",
    "religion", "religious", "faith", "nationality", "citizenship", "disability", "disabled", "pregnant",
    "pregnancy", "marital", "orientation", "sexuality", "health", "union", "political", "caste",
})


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return {w for w in re.split(r"[^0-9a-z]+", spaced.lower()) if w}


def suggest_sensitive(columns: Sequence[str]) -> list[str]:
    """The columns whose names suggest a sensitive attribute (gender, age, birth date, ethnicity,
    religion, nationality, ...), in the given order. A proposal for the data config's
    `sensitive_columns`: a column so named gets role "sensitive" unless the data config says
    otherwise. Pure: looks at names only."""
    return [c for c in columns if _name_words(c) & SENSITIVE_WORDS]
