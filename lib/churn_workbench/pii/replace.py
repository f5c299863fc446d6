"""The replacement side: findings -> numbered placeholders, spliced into the text."""

from __future__ import annotations

import re
from collections import Counter

from churn_workbench.pii.lexicon import fold
from churn_workbench.pii.types import PLACEHOLDER_LABELS, AnonymizedText, Finding

PLACEHOLDER_RE = re.compile(
    r"<(?:%s)_\d+>" % "|".join(sorted(set(PLACEHOLDER_LABELS.values()), key=len, reverse=True))
)


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
    placeholders in place and counts per entity type. The findings are already resolved into
    disjoint spans, so replacement is one left-to-right splice (linear in the text; the
    Presidio anonymizer we used before re-scans per entity and cost a third of the time)."""
    if not findings:
        return AnonymizedText(text, {})
    placeholders = assign_placeholders(text, findings)
    pieces = []
    pos = 0
    for f, placeholder in zip(findings, placeholders):
        pieces.append(text[pos : f.start])
        pieces.append(placeholder)
        pos = f.end
    pieces.append(text[pos:])
    return AnonymizedText("".join(pieces), dict(Counter(f.entity_type for f in findings)))
