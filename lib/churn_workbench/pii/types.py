"""Value types shared by the PII finder, the replacer and the residual gate."""

from __future__ import annotations

from dataclasses import dataclass, field

# Entity type -> placeholder label. Account numbers and the customer's own ids both become
# <ID_n>: the LLM needs to know "an identifier was here", not which kind.
PLACEHOLDER_LABELS = {
    "PERSON": "PERSON",
    "EMAIL": "EMAIL",
    "PHONE": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "CUSTOMER_ID": "ID",
    "ACCOUNT_NUMBER": "ID",
    "DATE": "DATE",
    "ADDRESS": "ADDRESS",
    "POSTCODE": "POSTCODE",
    "NATIONAL_ID": "NATIONAL_ID",
    "PASSPORT": "PASSPORT",
    "HANDLE": "HANDLE",  # a social-media @handle: identifies its owner like a name
    "NUMBER": "NUMBER",  # a long digit group masked for minimisation, whatever it is
    # The allow rule's last pass (churn_workbench.egress.allow): a word not known to be safe,
    # and the special categories of personal data (GDPR Art. 9 and 10).
    "WORD": "WORD",
    "HEALTH": "HEALTH",
    "RELIGION": "RELIGION",
    "SEXUAL_ORIENTATION": "SEXUAL_ORIENTATION",
    "ETHNICITY": "ETHNICITY",
    "POLITICAL_OPINION": "POLITICAL_OPINION",
    "TRADE_UNION": "TRADE_UNION",
    "BIOMETRIC": "BIOMETRIC",
    "CRIMINAL": "CRIMINAL",
}


@dataclass(frozen=True)
class KnownIdentifiers:
    """One customer's own identifiers, taken from the customers table.

    name: full name ("Maria van der Berg"); the full name and each part of >= 2 characters
        match, case-insensitively and word-bounded (particles such as "van" only inside the
        full name; parts that are English function words, like "Will" or "May", only when
        capitalised).
    email: matched case-insensitively.
    phone: matched on its digits in any formatting, with or without country code/trunk prefix.
    extra: other identifier values (customer id, account number): exact, case-insensitive,
        word-bounded; values shorter than 3 characters are ignored (they would match anywhere).
    """

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One PII span: text[start:end] is of `entity_type`; `source` is "known" or "detected"."""

    entity_type: str
    start: int
    end: int
    score: float
    source: str


@dataclass(frozen=True)
class AnonymizedText:
    """Anonymized text plus how many spans of each entity type were replaced."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
