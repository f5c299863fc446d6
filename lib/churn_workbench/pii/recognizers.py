"""Presidio recognizers: predefined ones adapted (offline, fixed gaps), account numbers and
person names. Phone numbers live in churn_workbench.pii.phones.

Every recognizer here works without an NLP model and without the network: e-mail and URL
validation use a tldextract extractor built on its bundled suffix snapshot
(`suffix_list_urls=()`, no cache dir), never the default one that downloads the list.
Entity names are ours (EMAIL, IBAN, ...), not Presidio's defaults (EMAIL_ADDRESS, IBAN_CODE).
"""

from __future__ import annotations

import re

import tldextract
from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UrlRecognizer,
)

from churn_workbench.pii.lazy import build_once
from churn_workbench.pii.names import find_person_names


def recognizer_result(
    recognizer: LocalRecognizer, entity: str, start: int, end: int, score: float
) -> RecognizerResult:
    """A RecognizerResult tagged with the recognizer that produced it."""
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


@build_once
def offline_tld_extractor() -> tldextract.TLDExtract:
    """A TLDExtract that only ever reads the snapshot bundled with tldextract."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail regex; the domain is checked against the bundled suffix list."""

    def __init__(self) -> None:
        super().__init__(supported_entity="EMAIL")

    def validate_result(self, pattern_text: str) -> bool:
        return offline_tld_extractor()(pattern_text).fqdn != ""


class TypoTolerantUrlRecognizer(UrlRecognizer):
    """Presidio's URL regex, minus sentence typos: "the service.It was" has no space after
    the full stop, and "It" looks like Italy's TLD. A bare host (no scheme, no www, no path)
    whose last label starts with a capital after a lower-case letter is a typo, not a URL."""

    _TYPO_RE = re.compile(r"[a-z]\.[A-Z][a-z]*$")
    # Presidio's two quoted-URL variants find nothing the plain ones miss, and each pass of
    # its 500-TLD pattern costs real time on 600k texts: keep "Standard Url" and "Non schema URL".
    PATTERNS = [p for p in UrlRecognizer.PATTERNS if not p.name.startswith("Quoted")]

    def __init__(self) -> None:
        super().__init__(supported_entity="URL", patterns=self.PATTERNS)

    def invalidate_result(self, pattern_text: str) -> bool:
        lowered = pattern_text.lower()
        if lowered.startswith(("http://", "https://", "www.")) or "/" in pattern_text:
            return False
        return self._TYPO_RE.search(pattern_text) is not None


_MAX_IBAN_WRITTEN = 34 + 9  # 34 characters at most, plus blanks between groups of four

# IBAN length per country (SWIFT IBAN registry). Presidio checks the checksum and a prefix
# format, which lets "FR76...189PLEASE" through by a 1-in-97 chance and has PT's length wrong;
# the registry length settles both.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def _iban_length_ok(compact: str) -> bool:
    """The registry length for the country, or 15-34 characters for countries not listed."""
    expected = IBAN_LENGTHS.get(compact[:2].upper())
    return len(compact) == expected if expected else 15 <= len(compact) <= 34


class GroupwiseIbanRecognizer(IbanRecognizer):
    """Presidio's IBAN checksum and per-country format, with a candidate search that
    tolerates lower case and a word right after the IBAN. (Presidio's own pattern takes
    "BE52 5307 2450 6832 PLEASE" as one candidate, fails the checksum and finds nothing.)
    Each candidate is cut back one blank-separated group at a time until it validates."""

    _CANDIDATE_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}[A-Za-z0-9]*(?:[ \-][A-Za-z0-9]+)*")
    _GROUP_RE = re.compile(r"[A-Za-z0-9]+")

    def __init__(self) -> None:
        super().__init__(supported_entity="IBAN")

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        """Return IBAN results whose checksum and country format are valid."""
        results = []
        for m in self._CANDIDATE_RE.finditer(text):
            end = self._longest_valid_end(m.group())
            if end:
                results.append(recognizer_result(self, "IBAN", m.start(), m.start() + end, 1.0))
        return results

    def _longest_valid_end(self, candidate: str) -> int | None:
        """Length of the longest group-aligned prefix of `candidate` that is a valid IBAN."""
        candidate = candidate[:_MAX_IBAN_WRITTEN]
        ends = [g.end() for g in self._GROUP_RE.finditer(candidate)]
        for end in reversed(ends):
            compact = re.sub(r"[ \-]", "", candidate[:end])
            if len(compact) < 15:
                break
            if _iban_length_ok(compact) and super().validate_result(compact.upper()):
                return end
        return None


class ExtendedCreditCardRecognizer(CreditCardRecognizer):
    """Presidio's card patterns plus Mastercard's 2221-2720 range, which its regex omits, and
    numbers grouped with dots. Every match must still pass Presidio's Luhn check to count."""

    def __init__(self) -> None:
        patterns = list(CreditCardRecognizer.PATTERNS) + [
            Pattern(
                "Mastercard 2-series (weak)",
                r"\b(2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720))[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b",
                0.3,
            ),
            Pattern("Dotted groups (weak)", r"\b\d{4}\.\d{4}\.\d{4}\.\d{3,4}\b", 0.3),
        ]
        super().__init__(
            patterns=patterns,
            supported_entity="CREDIT_CARD",
            replacement_pairs=[("-", ""), (" ", ""), (".", "")],
        )


class ObfuscatedEmailRecognizer(PatternRecognizer):
    """E-mail addresses spelled out against scrapers: "anna at gmail dot com",
    "anna(at)example(dot)org", "anna [at] example.co.uk". The last label must be a known
    top-level domain (bundled suffix list), so "meet at home dot" stays text."""

    PATTERNS = [
        Pattern(
            "Spelled-out e-mail",
            r"\b[\w.+\-]+\s*(?:\(at\)|\[at\]|\{at\}|\sat\s)\s*[\w\-]+"
            r"(?:\s*(?:\(dot\)|\[dot\]|\{dot\}|\sdot\s|\.)\s*[A-Za-z]{2,})+\b",
            0.5,
        )
    ]

    _HINT_RE = re.compile(r"(?i)\(at\)|\[at\]|\{at\}|\sat\s")

    def __init__(self) -> None:
        super().__init__(supported_entity="EMAIL", patterns=self.PATTERNS, name="ObfuscatedEmailRecognizer")

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        # It shares the EMAIL pre-filter with real addresses; skip texts without an "at".
        if not self._HINT_RE.search(text):
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)

    def validate_result(self, pattern_text: str) -> bool:
        host = re.split(r"\(at\)|\[at\]|\{at\}|\sat\s", pattern_text, maxsplit=1, flags=re.IGNORECASE)[-1]
        host = re.sub(r"\s*(?:\(dot\)|\[dot\]|\{dot\}|\sdot\s)\s*", ".", host, flags=re.IGNORECASE)
        host = re.sub(r"\s+", "", host)
        return offline_tld_extractor()(host).suffix != "" and "." in host


def presidio_pattern_recognizers() -> list:
    """Presidio's predefined recognizers we use (some adapted), with our entity names."""
    return [
        OfflineEmailRecognizer(),
        ObfuscatedEmailRecognizer(),
        ExtendedCreditCardRecognizer(),
        GroupwiseIbanRecognizer(),
        IpRecognizer(supported_entity="IP_ADDRESS"),
        TypoTolerantUrlRecognizer(),
    ]


class AccountNumberRecognizer(LocalRecognizer):
    """Account, customer, contract and policy numbers announced as such
    ("account no. 40012345", "customer ID: C-004512"). Only the value is reported.
    Order, ticket, invoice and letter references are not: they name a transaction, and an
    outsider cannot tie them to a person."""

    ENTITY = "ACCOUNT_NUMBER"
    _RE = re.compile(
        r"(?i)\b(?:account|acct|a/c|customer|client|member(?:ship)?|contract|policy|subscriber|"
        r"subscription|kundennummer|klantnummer|contrato|contratto)\b\.?[ \t]*"
        r"(?:(?:no|nr|num|number|id|#|n°|nº)\b\.?|#)?[ \t]*(?:(?:is|was)\b[ \t]*)?[:#=]?[ \t]*"
        r"(?P<value>(?=[A-Z0-9/-]*\d{4})[A-Z]{0,4}[-/]?\d[A-Z0-9/-]{3,23})(?![\w-])"
    )
    _DATE_RE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|(?:19|20)\d\d")

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name="AccountNumberRecognizer")

    def load(self) -> None:  # noqa: D102 - pure regex
        pass

    def analyze(self, text, entities, nlp_artifacts=None) -> list[RecognizerResult]:
        """Return ACCOUNT_NUMBER results: the value after an account-like keyword."""
        results = []
        for m in self._RE.finditer(text):
            value = m.group("value").rstrip("-/")
            if self._DATE_RE.fullmatch(value):
                continue  # "customer since 2019", "contract 2024-01-31"
            start = m.start("value")
            results.append(recognizer_result(self, self.ENTITY, start, start + len(value), 0.6))
        return results


class PersonNameRecognizer(LocalRecognizer):
    """Person names from the shipped name lists, capitalisation and context
    (see churn_workbench.pii.names)."""

    ENTITY = "PERSON"

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name="PersonNameRecognizer")

    def load(self) -> None:  # noqa: D102 - lists load lazily, once per process
        pass

    def analyze(self, text, entities, nlp_artifacts=None) -> list[RecognizerResult]:
        """Return PERSON results for `text`."""
        return [recognizer_result(self, self.ENTITY, s, e, score) for s, e, score in find_person_names(text)]
