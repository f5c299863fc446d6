"""The analysis side: the recognizers (Presidio's, adapted, and ours), a cheap pre-filter per
detector, and the rule that turns overlapping results into one non-overlapping list of findings.
Detection always reads the normalised view of a text (churn_workbench.pii.text)."""

from __future__ import annotations

import re

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from churn_workbench.pii import addresses, dates, national_ids, numbers, scripts
from churn_workbench.pii.lazy import build_once
from churn_workbench.pii.names import find_person_names, introduced_names
from churn_workbench.pii.phones import PhoneNumberRecognizer
from churn_workbench.pii.recognizers import (
    AccountNumberRecognizer,
    PersonNameRecognizer,
    letter_spaced_emails,
    social_handles,
    spelled_spaced_emails,
    presidio_pattern_recognizers,
)
from churn_workbench.pii.types import Finding
from churn_workbench.pii.words import has_any, words_of

LANGUAGE = "en"
MIN_SCORE = 0.5  # Presidio's weak patterns (card regex before Luhn: 0.3) stay below this

# When several findings overlap, the kind that is more certain wins the label.
_TYPE_PRIORITY = {
    "CREDIT_CARD": 14, "IBAN": 13, "EMAIL": 12, "IP_ADDRESS": 11, "URL": 10, "NATIONAL_ID": 9,
    "PASSPORT": 8, "PHONE": 7, "DATE": 6, "ADDRESS": 5, "POSTCODE": 4, "CUSTOMER_ID": 3,
    "ACCOUNT_NUMBER": 2, "HANDLE": 2, "PERSON": 1, "NUMBER": 0,
}
_PHONE_PRIORITY = _TYPE_PRIORITY["PHONE"]

# Pre-filter: a recognizer only runs when its hint is in the text. Most feedback has few digits,
# no '@' and no dotted host, so it pays for the name pass and little else. Each hint regex sits
# behind a substring test: scanning every position with a case-insensitive regex costs more
# than most recognizers.
_EMAIL_HINT = re.compile(r"(?i)\(at\)|\[at\]|\{at\}|\sat\s.{1,40}?\sdot\s")
_URL_GATE = re.compile(r"[A-Za-z0-9]\.[A-Za-z]{2}")
# a dotted host that is not the domain or local part of an e-mail address
_URL_HINT = re.compile(r"(?i)https?:|www\.|(?<![@\w.\-])[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}\b(?![\w.\-]*@)")
_PHONE_HINT = re.compile(r"\d(?:[ \t().\-/_]{0,3}\d){5}")
_IP_HINT = re.compile(r"\d\.\d{1,3}\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:")
_ACCOUNT_HINT = re.compile(r"\d{3}")
class _NoContextEnhancer(ContextAwareEnhancer):
    """With a no-op NLP engine there are no lemmas to enhance with; our recognizers weigh
    their own context words, so this step is skipped rather than run for nothing."""

    def __init__(self) -> None:
        super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0,
                         context_prefix_count=0, context_suffix_count=0)

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        return raw_results


@build_once
def analyzer() -> AnalyzerEngine:
    """The process-wide analyzer: no-op NLP engine (no spaCy model, no download) and the
    registry assembled in churn_workbench.pii.recognizers."""
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "no_op"}])
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in presidio_pattern_recognizers() + [
        PhoneNumberRecognizer(),
        AccountNumberRecognizer(),
        PersonNameRecognizer(),
    ]:
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=_NoContextEnhancer(),
    )


@build_once
def _empty_artifacts():
    """NLP artifacts are text-independent with the no-op engine: build them once."""
    return analyzer().nlp_engine.process_text("", LANGUAGE)


@build_once
def _recognizers_by_entity() -> dict[str, list]:
    """entity -> the registry's recognizers for it, called directly by `detect`: with no NLP
    artifacts and no context step, the engine's per-call bookkeeping (recognizer lookup,
    context pass, de-duplication) is most of its cost, and resolve_overlaps de-duplicates."""
    out: dict[str, list] = {}
    for r in analyzer().registry.recognizers:
        for entity in r.supported_entities:
            out.setdefault(entity, []).append(r)
    return out


# Our detectors on the view: plain functions view -> [(entity, start, end, score)]; each
# group runs only when its hint occurs.
_DIGIT_HINT = re.compile(r"\d")
# (fewest digits the thing can have, detector)
_DIGIT_DETECTORS = (
    (numbers.MIN_DIGITS, numbers.long_digit_groups), (13, numbers.cards), (8, numbers.ibans),
    (1, dates.dates), (1, addresses.addresses), (1, addresses.flats), (5, addresses.streets_before_postcode), (1, addresses.cued_streets), (1, addresses.postcodes), (1, national_ids.national_ids),
)
_NOT_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}


def _digit_count(view: str) -> int:
    """ASCII digits in the view (it has any-script digits read as ASCII already), at C speed."""
    return len(view.translate(_NOT_DIGITS)) if view.isascii() else sum(ch.isdigit() for ch in view)
_SPACED_EMAIL_HINT = re.compile(r"\S \S @|@ \S \S")


def entities_to_look_for(text: str) -> list[str]:
    """The Presidio-side entity types whose hints occur in `text` (PERSON always)."""
    entities = ["PERSON"]
    if "@" in text or (("at" in text or "AT" in text) and _EMAIL_HINT.search(text)):
        entities.append("EMAIL")
    if _URL_GATE.search(text) and _URL_HINT.search(text):
        entities.append("URL")
    if _DIGIT_HINT.search(text):
        if _PHONE_HINT.search(text):
            entities.append("PHONE")
        if ("." in text or ":" in text) and _IP_HINT.search(text):
            entities.append("IP_ADDRESS")
        if _ACCOUNT_HINT.search(text):
            entities.append("ACCOUNT_NUMBER")
    return entities


def detect(view: str, known_spans: list[tuple[int, int]] | tuple = ()) -> list[Finding]:
    """Detected (not known) PII in a detection view (see churn_workbench.pii.text), offsets
    into the view, possibly overlapping. `known_spans`: where the customer's own identifiers
    were found. They are masked whatever detection says, so the gates below read the view
    with them blanked out: a text whose only digits are the customer's own phone number skips
    every digit detector. The detectors themselves read the whole view (context words stay)."""
    if not view:
        return []
    gate_view = _blanked(view, known_spans) if known_spans else view
    # Names: called as a plain function, every text needs it and Presidio's result objects
    # would cost more than the rule itself.
    hits: list[tuple[str, int, int, float]] = [("PERSON", s, e, sc) for s, e, sc in find_person_names(view)]
    hits += [("PERSON", s, e, sc) for s, e, sc in introduced_names(view)]
    # Digits outside the known spans decide *whether* the digit detectors run; all the digits
    # decide which ones, so a number that merely shares digits with the customer's own phone
    # is still judged on its full length.
    n_digits = _digit_count(view) if _digit_count(gate_view) else 0
    if n_digits:
        for min_digits, detector in _DIGIT_DETECTORS:
            if n_digits >= min_digits:
                hits.extend(detector(view))
    elif has_any(view, dates.BIRTH_WORDS) or has_any(view, dates.MONTH_WORDS):
        hits.extend(dates.dates(view))
    words = words_of(view)  # cached, shared with the detectors' own gates
    # A number read aloud has three or more different digits ("oh seven nine one one ..."):
    # "one or two" and "three of the four" never run the (case-insensitive) run pattern.
    if not words.isdisjoint(numbers.DIGIT_WORD_GATE) and len(words & numbers.DIGIT_WORD_SET) >= 3:
        hits.extend(numbers.spelled_digit_runs(view))
    # A phone candidate inside a card or IBAN already found (they outrank a phone when
    # clusters merge) or inside a known identifier is skipped, not validated region by region.
    phone_skip = list(known_spans) + [(s, e) for t, s, e, _ in hits if _TYPE_PRIORITY.get(t, 0) > _PHONE_PRIORITY]
    by_entity = _recognizers_by_entity()
    for entity in entities_to_look_for(gate_view)[1:]:
        for recognizer in by_entity.get(entity, ()):
            extra = {"known_spans": phone_skip} if isinstance(recognizer, PhoneNumberRecognizer) else {}
            for r in recognizer.analyze(view, [entity], None, **extra):
                if r.score >= MIN_SCORE:
                    hits.append((r.entity_type, r.start, r.end, float(r.score)))
    if "@" in gate_view:
        hits.extend(social_handles(view))
        if _SPACED_EMAIL_HINT.search(view):
            hits.extend(letter_spaced_emails(view))
    # "at", "(at)", "AT" as a word ("that" is another word) and three one-letter words
    # ("m a r k o", "w e b"): ordinary prose has "a" and "I" and few others
    if "at" in words and sum(len(w) == 1 for w in words) >= 3:
        hits.extend(spelled_spaced_emails(view))
    if not view.isascii():
        hits.extend(scripts.foreign_script_names(view))
    return [Finding(e, s, x, sc, "detected") for e, s, x, sc in hits]


def _blanked(view: str, spans) -> str:
    """The view with `spans` replaced by blanks (same length, so offsets stay valid)."""
    pieces = []
    pos = 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        start = max(start, pos)
        pieces += [view[pos:start], " " * (end - start)]
        pos = end
    pieces.append(view[pos:])
    return "".join(pieces)


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Merge overlapping findings into a sorted, non-overlapping list.

    Overlapping findings form a cluster that becomes one finding spanning all of them, so
    nothing any recognizer flagged survives. Its label comes from, in order: a finding that
    covers the whole cluster ("anna@x.com" beats the name "anna" inside it), a known
    identifier, the more certain entity type, the higher score."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    cluster: list[Finding] = []
    cluster_end = -1
    for f in ordered:
        if cluster and f.start >= cluster_end:
            out.append(_merge(cluster))
            cluster = []
        cluster.append(f)
        cluster_end = max(cluster_end, f.end) if len(cluster) > 1 else f.end
    if cluster:
        out.append(_merge(cluster))
    return out


def _merge(cluster: list[Finding]) -> Finding:
    """One finding for a cluster of overlapping findings (see resolve_overlaps)."""
    if len(cluster) == 1:
        return cluster[0]
    start = min(f.start for f in cluster)
    end = max(f.end for f in cluster)
    best = max(
        cluster,
        key=lambda f: (
            f.start == start and f.end == end,
            f.source == "known",
            _TYPE_PRIORITY.get(f.entity_type, 0),
            f.score,
            f.end - f.start,
        ),
    )
    known_same_type = any(f.source == "known" and f.entity_type == best.entity_type for f in cluster)
    source = "known" if known_same_type else best.source
    return Finding(best.entity_type, start, end, max(f.score for f in cluster), source)
