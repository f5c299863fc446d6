"""The offline analyzer: VADER sentiment, rule-based topics, an extractive summary, and
catalogue actions. Deterministic, no network; the default backend and every fallback.

Speed matters (it may see every feedback text of a large customer base), so each distinct text
is analysed once, topics come from one combined regex pass per text, and the summary re-uses
those matches instead of scoring sentences a second time.
"""
from __future__ import annotations

import json
import re
import threading
from typing import Iterable, Sequence

import pandas as pd

from ..cluster import map_partitions
from ..vocab import sentiment_label
from . import schemas
from .base import ChatReply, Provider
from .policy import Catalogue, load_catalogue

LOCAL_MODEL = "vader-3.3+rules"
LOCAL_VERSION = {schemas.ANALYSIS: "local-analysis-v1", schemas.ACTION: "local-action-v1"}

# Keyword rules per topic. Word-start anchored so "bill" does not match "ability"; stems
# ("cancel" matches cancelled/cancellation) keep the lists short.
TOPIC_RULES: dict[str, str] = {
    "price": r"pric|expensive|cost|cheap|afford|overpriced|too much|rate (?:hike|increase)|fee increase|value for money",
    "network_quality": r"signal|coverage|network|dropp|drop(?:s|ped)? call|call drop|outage|no service|slow (?:internet|data|speed)|"
                       r"speed|buffer|connection|disconnect|internet|wifi|wi-fi|broadband|[345]g\b|lte",
    "customer_support": r"support|customer service|agent|representative|call cent|on hold|helpline|hotline|waited|wait time|"
                        r"rude|unhelpful|nobody (?:helped|answered|called)|no one (?:helped|answered|called)|technician|engineer",
    "billing": r"bill|invoice|charg|overcharg|refund|payment|direct debit|statement|double charg",
    "contract": r"contract|commitment|lock(?:ed)? in|lock-in|renewal|renew|early termination|notice period|minimum term",
    "competitor": r"competitor|other provider|another (?:provider|carrier|company|network|operator)|better (?:deal|offer)|"
                  r"switch(?:ing)? to|cheaper elsewhere",
    "product_features": r"feature|app\b|roaming|data allowance|allowance|plan\b|package|bundle|device|handset|upgrade|"
                        r"tv\b|streaming|esim|e-sim|voicemail|hotspot",
    "cancellation_intent": r"cancel|leav(?:e|ing)|quit|terminat|close (?:my )?account|switch(?:ing)? (?:provider|away|to)|"
                           r"port (?:my )?number|done with|moving to|last month with",
    "praise": r"great|excellent|love|awesome|fantastic|thank|happy with|satisfied|helpful|amazing|brilliant|well done|best",
}
assert set(TOPIC_RULES) == set(schemas.TOPICS)
# Matched against the lower-cased text: much faster than re.IGNORECASE on a big alternation.
_TOPIC_RE = re.compile("\\b(?:" + "|".join(f"(?P<{name}>{rule})" for name, rule in TOPIC_RULES.items()) + ")")
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")

# Prediction drivers (feature names) hint at topics when a customer left no feedback.
_DRIVER_TOPICS = (
    (re.compile(r"complain|support|ticket|call_cent", re.I), "customer_support"),
    (re.compile(r"bill|charge|payment|late", re.I), "billing"),
    (re.compile(r"price|fee|cost|spend|charge", re.I), "price"),
    (re.compile(r"network|drop|outage|signal|speed", re.I), "network_quality"),
    (re.compile(r"contract|tenure|renew", re.I), "contract"),
)

# VADER is tuned on social media. In telecom feedback "support" and "free" name things rather
# than praise them, and complaint words it does not know ("dropped", "outage") carry the meaning.
DOMAIN_LEXICON = {
    "support": 0.0, "free": 0.5, "help": 0.5, "charged": -1.2,
    "cancel": -1.8, "cancelled": -1.8, "cancelling": -1.8, "leaving": -1.2, "switching": -1.0,
    "drops": -1.5, "dropped": -1.5, "dropping": -1.5, "disconnected": -1.5, "disconnects": -1.5,
    "outage": -2.0, "outages": -2.0, "slow": -1.3, "unreliable": -1.9, "expensive": -1.5, "overpriced": -2.0,
    "overcharged": -2.2, "waiting": -0.8, "unresolved": -1.6, "unanswered": -1.6,
}

_vader = None
_vader_lock = threading.Lock()


def _analyzer():
    global _vader
    with _vader_lock:
        if _vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            analyzer = SentimentIntensityAnalyzer()  # the lexicon ships inside the package
            analyzer.lexicon.update(DOMAIN_LEXICON)
            _vader = analyzer
    return _vader


def _summary(text: str, hits: list[tuple[int, str]]) -> str:
    """The sentence with the most topic hits (first on ties), cut to SUMMARY_MAX_CHARS."""
    sentences = [(m.start(), m.end()) for m in _SENTENCE_RE.finditer(text) if m.group().strip()]
    best = sentences[0] if sentences else (0, len(text))
    if len(sentences) > 1 and hits:
        counts = [sum(1 for pos, _ in hits if s <= pos < e) for s, e in sentences]
        best = sentences[max(range(len(sentences)), key=lambda i: (counts[i], -i))]
    sentence = " ".join(text[best[0]:best[1]].split())
    limit = schemas.SUMMARY_MAX_CHARS
    if len(sentence) > limit:
        cut = sentence[: limit - 1]
        cut = cut[: cut.rfind(" ")] if " " in cut[limit // 2:] else cut
        sentence = cut.rstrip(",;: ") + "…"
    return sentence


def analyze_one(text: str) -> dict:
    """Result for one text in the same shape as a validated LLM result (minus `ref`)."""
    text = text if isinstance(text, str) else ""
    score = round(float(_analyzer().polarity_scores(text)["compound"]), 4) if text else 0.0
    hits = [(m.start(), m.lastgroup) for m in _TOPIC_RE.finditer(text.lower())]
    found = {name for _, name in hits}
    topics = [t for t in schemas.TOPICS if t in found]
    return {"sentiment": score, "label": sentiment_label(score), "topics": topics, "summary": _summary(text, hits)}


def analyze_chunk(texts: list[str]) -> list[dict]:
    """analyze_one over a list: one partition on a cluster worker."""
    return [analyze_one(t) for t in texts]


def analyze_texts(texts: Sequence[str], settings=None) -> pd.DataFrame:
    """One row per input text: sentiment [-1, 1], sentiment_label, topics (list), summary.

    Each distinct text is analysed once (feedback repeats a lot: "no signal", "too expensive");
    with `settings`, many distinct texts are spread over the run's Dask cluster (VADER is pure
    Python), partitioned by the text itself (a distinct text has no single customer).
    """
    series = pd.Series(list(texts), dtype=object).fillna("")
    codes, uniques = pd.factorize(series)
    uniques = list(uniques)
    if settings is not None:
        results = map_partitions(analyze_chunk, uniques, uniques, settings)
    else:
        results = analyze_chunk(uniques)
    frame = pd.DataFrame(results, columns=["sentiment", "label", "topics", "summary"])
    frame = frame.iloc[codes].reset_index(drop=True)
    return frame.rename(columns={"label": "sentiment_label"})


def topics_for_action(topics: Iterable[str], drivers: Iterable[str]) -> list[str]:
    known = [t for t in topics if t in schemas.TOPICS]
    for driver in drivers:
        for pattern, topic in _DRIVER_TOPICS:
            if pattern.search(str(driver)) and topic not in known:
                known.append(topic)
    return known


def catalogue_choice(segment: str, topics: Iterable[str], drivers: Iterable[str] = (),
                     catalogue: Catalogue | None = None) -> dict:
    """The catalogue action for a segment: the eligible offer that addresses most of the
    customer's topics (catalogue order on ties), else the segment's fallback offer."""
    catalogue = catalogue or load_catalogue()
    wanted = topics_for_action(topics, drivers)
    best, best_score = None, 0
    for offer in catalogue.eligible(segment):
        score = sum(1 for t in wanted if t in offer.topics)
        if score > best_score:
            best, best_score = offer, score
    return (best or catalogue.fallback_for(segment)).catalogue_action()


def catalogue_choices(contexts: list[tuple[str, list, list]], catalogue: Catalogue | None = None) -> list[dict]:
    """catalogue_choice over (segment, topics, drivers) contexts: one partition on a cluster worker."""
    catalogue = catalogue or load_catalogue()
    return [catalogue_choice(segment, topics, drivers, catalogue) for segment, topics, drivers in contexts]


class LocalProvider(Provider):
    """Offline backend. `send` answers the same chat request shape as the remote backends, so
    the local analyzer can stand in anywhere; the agents call the vectorised functions directly."""

    name = "local"
    external = False

    def model_for(self, task: str) -> str:
        return LOCAL_MODEL

    def prompt_version(self, task: str) -> str:
        return LOCAL_VERSION[task]

    def send(self, body: dict, timeout_s: float = 0.0) -> ChatReply:
        items = json.loads(body["messages"][-1]["content"])
        if body["response_format"]["json_schema"]["name"] == schemas.SCHEMA_NAMES[schemas.ANALYSIS]:
            results = [dict(analyze_one(i.get("text", "")), ref=i["ref"]) for i in items]
        else:
            results = [dict(catalogue_choice(i.get("segment", "Low"), i.get("topics", []), i.get("drivers", [])),
                            ref=i["ref"]) for i in items]
        content = json.dumps({"results": results})
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 0, "completion_tokens": 0}})
        return ChatReply(status_code=200, body=body, headers={}, sent_body="", latency_ms=0.0)
