"""The replacement side: findings -> numbered placeholders, applied by presidio-anonymizer."""

from __future__ import annotations

import re
from collections import Counter

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from churn_workbench.pii.lazy import build_once
from churn_workbench.pii.lexicon import fold
from churn_workbench.pii.types import PLACEHOLDER_LABELS, AnonymizedText, Finding

PLACEHOLDER_RE = re.compile(
    r"<(?:%s)_\d+>" % "|".join(sorted(set(PLACEHOLDER_LABELS.values()), key=len, reverse=True))
)


@build_once
def anonymizer() -> AnonymizerEngine:
    """The process-wide Presidio anonymizer."""
    return AnonymizerEngine()


def placeholder_label(entity_type: str) -> str:
    """Placeholder label for an entity type ("CUSTOMER_ID" -> "ID"); unknown types -> "ID"."""
    return PLACEHOLDER_LABELS.get(entity_type, "ID")


def assign_placeholders(text: str, findings: list[Finding]) -> list[str]:
    """One placeholder per finding, numbered per label in order of first appearance; the
    same value (normalised) gets the same number. All of the customer's own name parts are
    one person: "Maria" and "Maria van der Berg" both become the customer's <PERSON_n>."""
    numbers: dict[tuple[str, str], int] = {}
    per_label: Counter[str] = Counter()
    out = []
    for f in findings:
        label = placeholder_label(f.entity_type)
        key = (label, _value_key(text[f.start : f.end], f))
        if key not in numbers:
            per_label[label] += 1
            numbers[key] = per_label[label]
        out.append(f"<{label}_{numbers[key]}>")
    return out


def _value_key(value: str, finding: Finding) -> str:
    """Normalised value, so "Anna"/"ANNA" or "+44 20 7946 0958"/"020-7946-0958" coincide."""
    if finding.source == "known" and finding.entity_type in ("PERSON", "PHONE", "EMAIL"):
        return "\0known"  # the customer's own name/phone/e-mail, however it was written
    if finding.entity_type in ("PHONE", "CREDIT_CARD"):
        digits = re.sub(r"\D", "", value)
        return digits[-9:] if finding.entity_type == "PHONE" else digits
    if finding.entity_type in ("IBAN", "ACCOUNT_NUMBER", "CUSTOMER_ID", "NUMBER", "NATIONAL_ID",
                               "PASSPORT", "POSTCODE"):
        return re.sub(r"[\W_]", "", value).upper()
    if finding.entity_type == "URL":
        return re.sub(r"^(?:https?://)?(?:www\.)?", "", value.lower()).rstrip("/")
    return " ".join(fold(value).split())


def replace_findings(text: str, findings: list[Finding]) -> AnonymizedText:
    """Replace non-overlapping `findings` in `text` with placeholders.

    Input: text and its sorted, non-overlapping findings. Output: AnonymizedText with the
    placeholders in place and counts per entity type."""
    if not findings:
        return AnonymizedText(text, {})
    placeholders = assign_placeholders(text, findings)
    pieces = [
        _replace_segment(text[start:end], start, findings[i:j], placeholders[i:j])
        for start, end, i, j in _segments(text, findings)
    ]
    return AnonymizedText("".join(pieces), dict(Counter(f.entity_type for f in findings)))


def _replace_segment(segment: str, offset: int, findings: list[Finding], placeholders: list[str]) -> str:
    """Presidio's replace operator over one segment. It works per entity type, so each
    placeholder is passed as its own type."""
    if not findings:
        return segment
    results = [
        RecognizerResult(entity_type=p[1:-1], start=f.start - offset, end=f.end - offset, score=f.score)
        for f, p in zip(findings, placeholders)
    ]
    operators = {p[1:-1]: OperatorConfig("replace", {"new_value": p}) for p in set(placeholders)}
    engine_result = anonymizer().anonymize(
        segment, results, operators=operators, merge_entities_with_spaces=False
    )
    return engine_result.text


_SEGMENT_CHARS = 20_000


def _segments(text: str, findings: list[Finding]):
    """Cut text into (start, end, first finding, end finding) pieces of about _SEGMENT_CHARS,
    only between findings. Presidio rebuilds the whole string per replacement, so a 10 MB text
    full of PII would take quadratic time in one piece; normal feedback is a single piece."""
    start, first = 0, 0
    for k, f in enumerate(findings):
        if f.end - start >= _SEGMENT_CHARS and k + 1 < len(findings):
            yield start, f.end, first, k + 1
            start, first = f.end, k + 1
    yield start, len(text), first, len(findings)
