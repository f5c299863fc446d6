"""How people write their own identifiers other than exactly: the matching behind
churn_workbench.pii.known for variants.

- *Squeezed* keys: a value compared with only the letters and digits of the text, so an id,
  an e-mail local part or a joined name matches whatever separators, spacing or grouping it was
  written with ("C-000-123", "c 000 123", "j a n e . d o e", "AnnaSchmidt", "anna_schmidt84").
- *One edit*: a long name part (>= 5 letters) written with one letter wrong, missing, extra or
  two letters swapped ("Schmitd", "Schmid").
- *Initials*: "A.S.", "A. S." for Anna Schmidt.
"""

from __future__ import annotations

import re

# ASCII punctuation and blanks vanish from the squeezed text; letters and digits stay.
_SQUEEZE = {c: None for c in range(128) if not chr(c).isalnum()}
_INITIALS_RE = re.compile(r"(?<![\w.])([A-Z])\.[ \t]?([A-Z])\.(?:[ \t]?([A-Z])\.)?")
_TOKEN_END = " \t\n\r\"'<>()[]{},;:!?"


def squeeze(lowered: str) -> str:
    """Letters and digits only (ASCII punctuation and blanks removed)."""
    return lowered.translate(_SQUEEZE)


def squeezed_spans(text: str, lowered: str, squeezed: str, key: str, raw: str, whole_token: bool) -> list[tuple[int, int]]:
    """Spans of `text` whose letters and digits spell `key` (the squeezed form of `raw`),
    starting and ending at token boundaries. With whole_token the span grows to the
    surrounding token ("anna_schmidt84")."""
    if squeezed.count(key) == lowered.count(raw):  # written as stored: no position mapping needed
        candidates = []
        k = lowered.find(raw)
        while k != -1:
            candidates.append((k, k + len(raw)))
            k = lowered.find(raw, k + 1)
    else:
        positions = [i for i, ch in enumerate(lowered) if ord(ch) >= 128 or ord(ch) not in _SQUEEZE]
        candidates = []
        k = squeezed.find(key)
        while k != -1:
            candidates.append((positions[k], positions[k + len(key) - 1] + 1))
            k = squeezed.find(key, k + 1)
    spans = []
    for start, end in candidates:
        starts_token = not (start > 0 and text[start - 1].isalnum())
        if whole_token and starts_token and not (end < len(text) and text[end].isalpha()):
            while start > 0 and text[start - 1] not in _TOKEN_END:
                start -= 1
            while end < len(text) and text[end] not in _TOKEN_END:
                end += 1
            while end > start and text[end - 1] in ".-_/":
                end -= 1
            spans.append((start, end))
        elif not whole_token and starts_token and not (end < len(text) and text[end].isalnum()):
            spans.append((start, end))
    return spans


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one substitution, insertion, deletion or swap of
    two neighbouring letters."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


_INITIAL_BEFORE_RE = re.compile(r"(?<![\w.])([A-Z])\.?[ \t]?$")


def with_initial_before(text: str, start: int, initials: str) -> int:
    """Start of a name span grown over the first name's initial right before it ("A. Schmidt")."""
    m = _INITIAL_BEFORE_RE.search(text, max(0, start - 4), start)
    return m.start() if m and m.group(1).lower() == initials[0] else start


def initials_spans(text: str, initials: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans of dotted initials ("A.S.", "A. S.") equal to the name's initials in order."""
    return [m.span() for m in _INITIALS_RE.finditer(text)
            if "".join(g for g in m.groups() if g).lower() in initials]
