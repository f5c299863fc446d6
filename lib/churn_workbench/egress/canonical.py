"""The one canonical form every egress decision reads.

The anonymizer's last pass, the request gate and the output check all judge the same string:
invisible and format characters dropped, NFKC, digits of any script read as ASCII digits,
look-alike letters inside mixed-script words folded to the Latin they imitate, and HTML
entities decoded ("&#64;" is "@"). The form is idempotent, so text that was masked in it
is judged the same way again at the gate.
"""
from __future__ import annotations

import html
import re
import unicodedata

from ..pii.confusables import fold_mixed_script
from ..pii.text import strip_invisible

_ENTITY_RE = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")


def canonical(text: str) -> str:
    """The canonical form of `text` (idempotent: canonical(canonical(t)) == canonical(t))."""
    if not text:
        return ""
    previous = None
    out = text
    # Entities can nest ("&amp;#64;"): decode until nothing changes (bounded).
    for _ in range(3):
        if previous == out:
            break
        previous = out
        if "&" in out and _ENTITY_RE.search(out):
            out = html.unescape(out)
        out = strip_invisible(out)
        if not out.isascii():
            out = unicodedata.normalize("NFKC", fold_mixed_script(_ascii_digits(out)))
            # NFKC splits Thai and Lao SARA AM into two signs no dictionary spells words with.
            if "\u0e4d\u0e32" in out or "\u0ecd\u0eb2" in out:
                out = out.replace("\u0e4d\u0e32", "\u0e33").replace("\u0ecd\u0eb2", "\u0eb3")
    return out


def _ascii_digits(text: str) -> str:
    """Digits of any script as ASCII digits ("٣" -> "3", "३" -> "3")."""
    if not any(ch.isdecimal() and not ch.isascii() for ch in text):
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)
