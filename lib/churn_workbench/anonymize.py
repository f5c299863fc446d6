"""PII anonymization before egress (governance rule 3), offline, with Presidio.

Find, then replace, then gate:

- ``find_pii(text, known)``: the customer's own identifiers (case/format-insensitive, with
  name variants, e-mail local parts and ids in any grouping) plus detected PII (e-mails,
  phones, cards, IBANs, IPs, URLs, account and reference numbers, dates, addresses and
  postcodes, national ids and passports, person names in any script, long digit groups), as
  sorted, non-overlapping findings;
- ``anonymize(text, known)``: strip invisible characters, then replace every finding with a
  numbered placeholder (``<PERSON_1>``, ``<EMAIL_1>``, ...), the same value keeping the
  same number within the text; then the allow rule's last pass replaces every token that is
  not known to be safe (churn_workbench.egress.allow: default-deny);
- ``residual_pii(payload)``: the same finder over a text (JSON or not), ignoring our
  placeholders: the output guard uses it on what a model writes. The request gate is not this
  function: it judges the exact payload by the allow rule alone (churn_workbench.egress.gate),
  so that a miss of the finder cannot pass both.

Everything runs offline: a Presidio AnalyzerEngine with a no-op NLP engine (no spaCy model),
recognizers from churn_workbench.pii.recognizers, name lists shipped in the package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from churn_workbench.egress import allow
from churn_workbench.pii.known import known_matcher
from churn_workbench.pii.replace import PLACEHOLDER_RE, replace_findings
from churn_workbench.pii.text import detection_view, map_span, strip_invisible, unescape_json_same_length
from churn_workbench.pii.types import AnonymizedText, Finding, KnownIdentifiers

__all__ = [
    "PLACEHOLDER_RE",
    "AnonymizedText",
    "Finding",
    "KnownIdentifiers",
    "anonymize",
    "anonymize_many",
    "anonymize_pairs",
    "find_pii",
    "forget_texts",
    "residual_pii",
    "strip_invisible",
]

def find_pii(text: str, known: KnownIdentifiers | None = None) -> list[Finding]:
    """Find PII in `text`.

    Input: text; optionally the customer's own identifiers. Output: sorted, non-overlapping
    findings with offsets into `text`. Everything is looked for in the normalised view of the
    text (invisible characters dropped, look-alikes folded, any-script digits read as digits,
    split line breaks mended), then mapped back, so the spans cover what hid the PII too. The customer's identifiers are matched exactly
    (source "known"), everything else is detected (source "detected"); where they overlap
    the spans merge (see churn_workbench.pii.engine.resolve_overlaps).
    """
    if not text:
        return []
    view, index = detection_view(text)
    return _with_detected(view, index, known_matcher(known).find(view) if known else [])


def _with_detected(view: str, index, own: list[Finding]) -> list[Finding]:
    """find_pii's second step: the detectors' findings added to the customer's own (`own`,
    found in `view`), overlaps resolved, spans mapped back through `index`."""
    # Imported here: Presidio (and the spaCy it imports) takes a second and a half to load, and
    # the stages that never look for PII (ingest, predict) import this module through others.
    from churn_workbench.pii.engine import detect, resolve_overlaps
    findings = own + detect(view, [(f.start, f.end) for f in own])
    findings = resolve_overlaps(findings)
    if index is None:
        return findings
    return [Finding(f.entity_type, *map_span(index, f.start, f.end), f.score, f.source) for f in findings]


def anonymize(text: str, known: KnownIdentifiers | None = None) -> AnonymizedText:
    """Strip invisible characters, replace all PII with numbered placeholders, then every
    token that is not known to be safe (the allow rule's last pass, churn_workbench.egress).

    Input: raw text (e.g. one feedback), optionally the author's identifiers.
    Output: AnonymizedText(text with placeholders, counts per entity type; the allow rule's
    placeholders are counted under their labels: WORD, NUMBER, ID, HEALTH, ...). The text is in
    the allow rule's canonical form (NFKC, entities decoded, digits as ASCII digits).

    Everything after finding the author's own identifiers depends on the text and those
    findings alone, so its result is kept per (text, own findings): feedback repeats whole
    texts ("Love the new app"), and one that does not name its author is the same for all.
    """
    clean = strip_invisible(text or "")
    if not clean:
        own: list[Finding] = []
        view, index = clean, None
    else:
        view, index = detection_view(clean)
        own = known_matcher(known).find(view) if known else []
    key = (clean, tuple(own))
    if _kept_under[0] != allow.generation():
        _ANONYMIZED.clear()  # the allow rule's settings or vocabulary changed
        _kept_under[0] = allow.generation()
    hit = _ANONYMIZED.get(key)
    if hit is not None:
        return AnonymizedText(hit.text, dict(hit.counts))
    found = replace_findings(clean, _with_detected(view, index, own) if clean else [])
    masked, added = allow.mask(found.text)
    if not added:
        result = AnonymizedText(masked, found.counts)
    else:
        counts = dict(found.counts)
        for label, n in added.items():
            counts[label] = counts.get(label, 0) + n
        result = AnonymizedText(masked, counts)
    if len(clean) <= _KEEP_MAX_CHARS:  # long texts seldom repeat: memory stays bounded
        if len(_ANONYMIZED) >= _ANONYMIZED_MAX:
            _ANONYMIZED.clear()
        _ANONYMIZED[key] = AnonymizedText(result.text, dict(result.counts))
    return result


# (text, its author's findings in it) -> the anonymized text; emptied when full, when the allow
# rule's settings or vocabulary change (allow.generation) and by forget_texts.
_ANONYMIZED: dict[tuple[str, tuple], AnonymizedText] = {}
_ANONYMIZED_MAX = 20_000
_KEEP_MAX_CHARS = 500
_kept_under = [-1]  # allow.generation() the kept results were computed under


def forget_texts() -> None:
    """Drop what is kept per whole text (anonymized texts, the allow rule's masked forms), so a
    benchmark pass over texts already seen measures the work, not the lookups. The caches per
    chunk and per word stay: they fill within the first few hundred texts."""
    _ANONYMIZED.clear()
    allow.forget_texts()


def anonymize_many(
    texts: Sequence[str],
    known: Sequence[KnownIdentifiers | None] | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> list[AnonymizedText]:
    """Anonymize many texts in this process; known[i] (if given) belongs to texts[i]. Output
    order follows the input. on_progress(n): called as texts are done, with how many since the
    last call (live progress). (A stage spreads large batches over the run's Dask cluster:
    churn_workbench.cluster.map_partitions.)"""
    if known is not None and len(known) != len(texts):
        raise ValueError(f"known has {len(known)} entries for {len(texts)} texts")
    return anonymize_pairs(list(zip(texts, known if known is not None else [None] * len(texts))), on_progress)


def anonymize_pairs(pairs: Sequence[tuple[str, KnownIdentifiers | None]],
                    on_progress: Callable[[int], None] | None = None) -> list[AnonymizedText]:
    """anonymize() over (text, known) pairs: one partition of a batch on a cluster worker.
    on_progress(1) after each text, when given."""
    out = []
    for t, k in pairs:
        out.append(anonymize(t, k))
        if on_progress is not None:
            on_progress(1)
    return out


def residual_pii(payload: str) -> list[Finding]:
    """The egress gate: PII still present in a final request payload.

    Input: the exact text about to be sent (usually JSON). JSON escapes are decoded in place
    ("\\n", "\\u00e9") so they cannot hide or glue words; our own placeholders are ignored.
    Output: findings with offsets into `payload`; non-empty means the caller must not send.
    """
    view = unescape_json_same_length(payload or "")
    placeholders = [m.span() for m in PLACEHOLDER_RE.finditer(view)]
    is_json = _is_json(payload)
    if is_json:
        # Each JSON string is read on its own, as the per-item screen read it: next to the
        # English system prompt a Chinese or Arabic feedback text would otherwise look like a
        # short island of another script, i.e. a name, and never be sent.
        findings = []
        for m in _BETWEEN_QUOTES_RE.finditer(view):
            findings += [Finding(f.entity_type, f.start + m.start(), f.end + m.start(), f.score, f.source)
                         for f in find_pii(m.group())]
    else:
        findings = find_pii(view)
    findings = [f for f in findings if not _inside_any(f, placeholders)]
    if any(f.entity_type == "NUMBER" for f in findings) and is_json:
        # A long digit group outside every JSON string is the request's own structure
        # ("max_tokens": 123456), not text anybody wrote.
        strings = [m.span() for m in _JSON_STRING_RE.finditer(payload)]
        findings = [f for f in findings if f.entity_type != "NUMBER" or _inside_any(f, strings)]
    return findings


_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_BETWEEN_QUOTES_RE = re.compile(r'[^"]+')  # in the unescaped view: keys, values, and the texts inside them


def _is_json(payload: str) -> bool:
    """True when the payload is a JSON document (a plain message is not)."""
    if not payload.lstrip().startswith(("{", "[")):
        return False
    try:
        json.loads(payload)
    except ValueError:
        return False
    return True


def _inside_any(finding: Finding, spans: list[tuple[int, int]]) -> bool:
    """True when the finding lies within one of `spans` (a placeholder)."""
    return any(s <= finding.start and finding.end <= e for s, e in spans)
