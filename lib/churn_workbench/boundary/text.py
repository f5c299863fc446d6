"""Text from outside that the workbench prints in its one-line messages or uses as a name.

- `LINE_BREAKING`: every character that breaks a line somewhere -- each one `str.splitlines()`
  splits at (`\\n`, `\\r`, `\\v`, `\\f`, `\\x1c`-`\\x1e`, `\\x85`, U+2028, U+2029) -- and the
  rest of Unicode's control (Cc) and surrogate (Cs) categories. An id or a path holding one
  is refused: printed, it splits a message in two; it is never meant.
- `shown(value)`: a value as a message quotes it, with every character that is not plain
  printable ASCII escaped, so an id with a combining accent or a look-alike letter never
  prints identical to another one.
"""
from __future__ import annotations

import re

LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def shown(value: str) -> str:
    text = str(value)
    return text if text.isascii() and text.isprintable() else ascii(text)
