"""The product's own vocabulary: words that may leave whatever their frequency.

The offer catalogue's wording and ids, the topic, segment and sentiment names, the offline
analyzer's telecom terms, and the data owner's allow-list (`allow_words` in the data config,
stored by the ingest stage and installed by the stages that send: `set_owner_words`). None of
them is a person's identifier; a special-category term stays masked even when listed here.
"""
from __future__ import annotations

import threading
import tomllib
from functools import lru_cache
from typing import Callable
from importlib import resources

import regex

from ..pii.lexicon import fold

# Telecom words the offline analyzer's topic rules and the catalogue rely on that are rare in
# general language (wordfreq would mask "esim" or "voicemail").
DOMAIN_TERMS = """esim e-sim sim sims wifi wi-fi lte volte 3g 4g 5g voicemail hotspot broadband router routers
modem modems roaming apn fibre fiber ftth adsl vdsl dsl mbps gbps megabit gigabit ethernet bluetooth handset handsets
prepaid postpaid topup top-up paygo payg sms mms isp telco telecom chatbot helpline hotline direct-debit
overcharged overcharging overpriced overbilled unresolved unanswered disconnects disconnected reconnect reconnected
callback callbacks upgrade upgrades downgrade downgraded autopay paperless ebill e-bill mbit kbit gbit json
роутер роутера роутере роутером маршрутизатор модем вайфай ρούτερ ρουτερ μόντεμ राउटर वाईफाई মডেম রাউটার""".split()

_WORD_RE = regex.compile(r"[\p{L}\p{M}\d]+(?:['’][\p{L}\p{M}]+)*")
_owner: frozenset[str] = frozenset()
_lock = threading.Lock()


def words_of(text: str) -> set[str]:
    """Casefolded words of a phrase, split as the allow rule splits ("loyalty_discount_20")."""
    return {w.casefold() for w in _WORD_RE.findall(text.replace("_", " "))}


@lru_cache(maxsize=1)
def product_words() -> frozenset[str]:
    """Catalogue wording, ids, channels and action types; topics, segments, sentiment labels;
    the domain terms above."""
    from ..vocab import PURPOSES, SEGMENTS, SENTIMENT_LABELS, TOPICS

    words: set[str] = set()
    for w in DOMAIN_TERMS:
        words |= words_of(w) | {w}
    # The catalogue file itself, not llm.policy.load_catalogue: that one checks every offer with
    # the output guard, i.e. with the PII finder, which the allow rule must not depend on.
    raw = tomllib.loads(resources.files("churn_workbench").joinpath("data", "offer_catalogue.toml")
                        .read_text(encoding="utf-8"))
    for offer in raw.get("offer", ()):
        for text in (offer.get("id", ""), offer.get("action_type", ""), offer.get("template", ""),
                     *offer.get("channels", ()), *offer.get("topics", ())):
            words |= words_of(str(text))
    for rule in raw.get("wording", {}).get("rules", ()):
        words |= words_of(str(rule))
    for name in (*TOPICS, *SEGMENTS, *SENTIMENT_LABELS, *PURPOSES):
        words |= words_of(name) | {name.casefold()}
    words |= {str(o.get("id", "")).casefold() for o in raw.get("offer", ())}
    return frozenset(w for w in words if not w.isdigit())


def set_owner_words(words) -> None:
    """Install the data owner's allow-list for this process (the stages call it from the
    stored data config; worker processes forked afterwards inherit it)."""
    global _owner
    folded = set()
    for w in words or ():
        folded |= {fold(x) for x in words_of(str(w))} | {x for x in words_of(str(w))}
    with _lock:
        _owner = frozenset(folded)
    _changed()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever the vocabulary changes: what is cached on it must be dropped
    (egress/allow.py's verdicts)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in list(_listeners):
        listener()


_listeners: list[Callable[[], None]] = []


def owner_words() -> frozenset[str]:
    return _owner


def use_owner_words(words: frozenset[str]) -> None:
    """Install another process's `owner_words()` as they are (a cluster worker running a
    stage's task: churn_workbench.cluster)."""
    global _owner
    if words == _owner:
        return
    with _lock:
        _owner = frozenset(words)
    _changed()


def is_vocabulary(key: str) -> bool:
    """True for a casefolded word of the product's or the data owner's vocabulary."""
    return key in product_words() or key in _owner
