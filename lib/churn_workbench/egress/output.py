"""The allow rule for what a model writes: a stored summary may hold only allowed tokens, and
placeholders that occur in its own item's input; it may not copy another item's words.

`violations(text, own_input)` names the rules a model-written text breaks (never the text).
`CopyIndex` holds every item's input of a stage, so a summary that repeats five or more
consecutive words of *any* other item (not only one of the same request) is refused: a model
that mixes items up, or is told to, must not store one customer's words under another.
Shingles are taken over the allow rule's own tokens, so they work in every script (Chinese
and Thai words come from their segmenters).
"""
from __future__ import annotations

from collections.abc import Mapping

from . import allow
from .canonical import canonical
from .tokens import PLACEHOLDER_RE, tokens

SHINGLE = 5  # consecutive words that count as another item's text


def violations(text: str, own_input: str = "") -> list[str]:
    """Rules broken by a model-written `text`: "not_allowed" (a token the allow rule does not
    know to be safe), "foreign_placeholder" (a placeholder its own input does not have)."""
    view = canonical(text or "")
    broken = []
    if allow.denied(view, canonical_form=True):
        broken.append("not_allowed")
    own = set(PLACEHOLDER_RE.findall(canonical(own_input or "")))
    if any(p not in own for p in PLACEHOLDER_RE.findall(view)):
        broken.append("foreign_placeholder")
    return broken


def shingles(text: str) -> set[tuple[str, ...]]:
    """Runs of SHINGLE consecutive words and numbers (casefolded) of a text."""
    words = [t.text.casefold() for _, t in tokens(canonical(text or "")) if t.kind in ("word", "number")]
    return {tuple(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


class CopyIndex:
    """Which item each shingle of a stage's inputs comes from."""

    def __init__(self, inputs: Mapping[str, str]):
        self._owners: dict[tuple[str, ...], set[str]] = {}
        for key, text in inputs.items():
            for s in shingles(text):
                self._owners.setdefault(s, set()).add(key)

    def copies_other(self, text: str, own_key: str) -> bool:
        """True when `text` repeats SHINGLE words in a row of an input other than own_key's
        (words its own input has too are its own)."""
        for s in shingles(text):
            owners = self._owners.get(s)
            if owners and own_key not in owners:
                return True
        return False
