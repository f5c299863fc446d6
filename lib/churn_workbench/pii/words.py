"""The lower-cased words of a text, computed once per text and shared by the detectors' gates.

Case-insensitive regex alternations with word boundaries are slow in Python's `re`; a set
intersection with the text's words answers "is there a street/month/id word?" at C speed.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD_RE = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=8)
def words_of(view: str) -> frozenset[str]:
    """The set of lower-cased letter runs of `view` ("Goethestr." -> "goethestr")."""
    return frozenset(_WORD_RE.findall(view.lower()))


def has_any(view: str, vocabulary: frozenset[str]) -> bool:
    """True when one of the text's words is in `vocabulary`."""
    return not words_of(view).isdisjoint(vocabulary)
