"""Presidio recognizers: predefined ones adapted (offline, fixed gaps), account and reference
numbers, person names, letter-spaced e-mails. Phone numbers live in churn_workbench.pii.phones;
cards and IBANs (any grouping) in churn_workbench.pii.numbers.

Every recognizer here works without an NLP model and without the network: e-mail and URL
validation use a tldextract extractor built on its bundled suffix snapshot
(`suffix_list_urls=()`, no cache dir), never the default one that downloads the list.
Entity names are ours (EMAIL, IBAN, ...), not Presidio's defaults (EMAIL_ADDRESS, IBAN_CODE).
"""

from __future__ import annotations

import logging
import re

import regex as _regex  # Presidio's engine: same syntax, and a timeout per match
import tldextract
from presidio_analyzer import EntityRecognizer, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer, UrlRecognizer

from churn_workbench.pii.lazy import build_once
from churn_workbench.pii.names import find_person_names

_log = logging.getLogger(__name__)


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


class _DirectPatterns:
    """Presidio's pattern matching (same `regex` engine, flags, timeout, validate/invalidate
    and scores) without its per-match explanation objects and timing calls, which cost about
    four times the matching itself on short feedback texts. Mixed into PatternRecognizers."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        flags = regex_flags or self.global_regex_flags
        entity = self.supported_entities[0]
        results = []
        for pattern in self.patterns:
            if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
                pattern.compiled_with_flags = flags
                pattern.compiled_regex = _regex.compile(pattern.regex, flags=flags)
            try:
                for m in pattern.compiled_regex.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                    start, end = m.span()
                    if start == end:
                        continue
                    found = text[start:end]
                    score = pattern.score
                    valid = self.validate_result(found)
                    if valid is not None:
                        score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
                    if self.invalidate_result(found):
                        score = EntityRecognizer.MIN_SCORE
                    if score > EntityRecognizer.MIN_SCORE:
                        results.append(recognizer_result(self, entity, start, end, score))
            except TimeoutError:  # a pathological text: skip this pattern, as Presidio does
                _log.warning("regex pattern %r timed out after %s s, skipped", pattern.name, REGEX_TIMEOUT_SECONDS)
        return results


class OfflineEmailRecognizer(_DirectPatterns, EmailRecognizer):
    """Presidio's e-mail regex; the domain is checked against the bundled suffix list."""

    def __init__(self) -> None:
        super().__init__(supported_entity="EMAIL")

    def validate_result(self, pattern_text: str) -> bool:
        return offline_tld_extractor()(pattern_text).fqdn != ""


class TypoTolerantUrlRecognizer(_DirectPatterns, UrlRecognizer):
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


class ObfuscatedEmailRecognizer(_DirectPatterns, PatternRecognizer):
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


# "j a n e . d o e @ e x a m p l e . c o m": single characters separated by single blanks.
# Bounded by blanks, quotes, brackets or punctuation (in a JSON payload a closing quote follows).
_SPACED_RE = re.compile(r"(?<![^\s\"'(<\[:])(?:[\w.+\-@] ){5,}[\w+\-@](?![^\s\"')>\].,;:!?])")
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


def letter_spaced_emails(view: str) -> list[tuple[str, int, int, float]]:
    """EMAIL hits for addresses written letter by letter; the joined address must be an
    e-mail address with a known top-level domain."""
    out = []
    for m in _SPACED_RE.finditer(view):
        joined = m.group().replace(" ", "")
        if "@" in joined and _EMAIL_RE.fullmatch(joined) and offline_tld_extractor()(joined).suffix:
            out.append(("EMAIL", m.start(), m.end(), 0.9))
    return out


# Letter-spaced with the "@" and dots spelled out: "m a r k o 7 7 at w e b dot d e",
# "p e t e r . m u l l e r (at) gmx (dot) de". A piece is a run of single characters joined
# by single blanks, or a plain word; at least one piece must be letter-spaced (plain words
# are the ObfuscatedEmailRecognizer's). The joined address must be an e-mail address with a
# known top-level domain, so "a b c at home dot" stays text.
_PIECE = r"(?:[\w+\-](?: [\w.+\-])+|[\w.+\-]+)"
_DOMAIN_PIECE = r"(?:[\w\-](?: [\w\-])+|[\w\-]+)"
_SPELLED_AT = r"(?:\((?i:at)\)|\[(?i:at)\]|\{(?i:at)\}|(?i:at)|@)"
_SPELLED_DOT = r"(?: +(?:\((?i:dot)\)|\[(?i:dot)\]|\{(?i:dot)\}|(?i:dot)) +| ?\. ?)"
_SPELLED_SPACED_RE = re.compile(
    rf"(?<![\w.])(?P<local>{_PIECE}) +{_SPELLED_AT} +(?P<domain>{_DOMAIN_PIECE}(?:{_SPELLED_DOT}{_DOMAIN_PIECE})+)(?!\w)"
)
_SPELLED_DOT_RE = re.compile(r" +(?:\((?i:dot)\)|\[(?i:dot)\]|\{(?i:dot)\}|(?i:dot)) +")
# Gate: an "at" word and three single characters in a row ("o 7 7", "w e b").
_THREE_SINGLES_RE = re.compile(r"(?<!\S)\S \S \S(?!\S)")


def spelled_spaced_emails(view: str) -> list[tuple[str, int, int, float]]:
    """EMAIL hits for letter-spaced addresses with a spelled "at"/"dot" (_SPELLED_SPACED_RE)."""
    if not _THREE_SINGLES_RE.search(view):
        return []
    out = []
    for m in _SPELLED_SPACED_RE.finditer(view):
        local, domain = m.group("local"), m.group("domain")
        if " " not in local.strip() and not any(" " in p.strip() for p in _SPELLED_DOT_RE.split(domain)):
            continue  # no letter-spaced piece: plain words are another recognizer's
        joined = local.replace(" ", "") + "@" + _SPELLED_DOT_RE.sub(".", domain).replace(" ", "")
        if _EMAIL_RE.fullmatch(joined) and offline_tld_extractor()(joined).suffix:
            out.append(("EMAIL", m.start(), m.end(), 0.9))
    return out


# A social-media handle ("DM @janewhit84 on twitter") names its owner as well as an e-mail
# address does. Not part of an e-mail (no word character, dot or @ before the @), 2-30
# characters of Twitter/Instagram/TikTok handles with a letter among them ("@30" is no one).
_HANDLE_RE = re.compile(r"(?<![\w.@+\-])@(?=[\w.]*[^\W\d_])[A-Za-z0-9_](?:[\w.]{0,28}[A-Za-z0-9_])?(?![\w@]|\.[A-Za-z])")


def social_handles(view: str) -> list[tuple[str, int, int, float]]:
    """HANDLE hits: @handles that are not part of an e-mail address."""
    return [("HANDLE", m.start(), m.end(), 0.7) for m in _HANDLE_RE.finditer(view)]


class DirectIpRecognizer(_DirectPatterns, IpRecognizer):
    """Presidio's IP address recognizer, matched directly (see _DirectPatterns)."""


def presidio_pattern_recognizers() -> list:
    """Presidio's predefined recognizers we use (some adapted), with our entity names."""
    return [
        OfflineEmailRecognizer(),
        ObfuscatedEmailRecognizer(),
        DirectIpRecognizer(supported_entity="IP_ADDRESS"),
        TypoTolerantUrlRecognizer(),
    ]


class AccountNumberRecognizer(LocalRecognizer):
    """Account, customer, contract, policy and reference numbers announced by a word, in the
    project's languages ("account no. 40012345", "my reference number is AB-7731",
    "Kundennummer 4471-22"). Only the value is reported; it needs 3 digits or more. Order,
    ticket and invoice references are masked too: minimisation, the analysis does not need them."""

    ENTITY = "ACCOUNT_NUMBER"
    _RE = re.compile(
        r"(?i)\b(?:account|acct|a/c|customer|client|member(?:ship)?|contract|policy|subscriber|"
        r"subscription|reference|ref|order|ticket|case|invoice|booking|confirmation|tracking|transaction|"
        r"claim|kundennummer|kunden|vertrag(?:snummer)?|referenz|aktenzeichen|klantnummer|klant|"
        r"référence|reference|dossier|numéro\s+client|cliente|contrato|contratto|riferimento|pratica|"
        r"number|numéro|nummer|número|numero|no|nr|n°|nº)\b\.?[ \t]*"
        r"(?:(?:no|nr|num|number|id|code|#|n°|nº|numéro|nummer|número|numero)\b\.?|#)?[ \t]*"
        r"(?:(?:is|was|est|ist|es|è|:)\b[ \t]*)?[:#=]?[ \t]*"
        r"(?P<value>(?=[A-Z0-9/\-]*\d{3})[A-Z]{0,5}[-/]?\d[A-Z0-9/\-]{2,24})(?![\w-])"
    )
    _DATE_RE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|(?:19|20)\d\d")
    # The value written in blank-separated digit groups ("884 213", "12 345 678"): the
    # groups right after it belong to it, unless a unit, amount or another number follows
    # ("order 123456 30 minutes late", "ref 4471 20 €").
    _MORE_GROUPS_RE = re.compile(
        r"(?:[ \t]\d{2,6})+(?![\w%€$£]|[.,]\d|\s*(?:%|€|\$|£)|\s+(?i:min|mins|minutes?|hours?|hrs?|days?|weeks?|"
        r"months?|years?|euros?|eur|pounds?|gbp|dollars?|usd|gb|mb|mbps|times|minuten|stunden|tage|wochen|monate|"
        r"jahre|minutes|heures|jours|mois|ans|minutos|horas|días|meses|años|minuti|ore|giorni|mesi|anni)\b)"
    )

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
            end = start + len(value)
            if value[-1].isdigit():
                more = self._MORE_GROUPS_RE.match(text, end)
                if more:
                    end = more.end()
            results.append(recognizer_result(self, self.ENTITY, start, end, 0.6))
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
