"""The data owner's allow-list is vetted before it is stored: an entry is never personal data.

`allow_words` in the data config lets words leave the machine that the egress allow rule would
otherwise mask (churn_workbench.egress.vocabulary). An entry that is itself a person's data would
turn the allow rule around for exactly that data, so every entry must pass, before anything is
written:

- the PII detectors, on the entry alone (an e-mail address, a phone number, an IBAN, a known
  first name or surname, a long digit group: whatever the anonymizer finds);
- the customers file: no entry is, in canonical form and any case, a customer id, the value of
  an identifying column (name, e-mail, phone, other identifiers), or one word of a name.

A refusal names the config file, the entry and why, in one line; the run stops before it writes.
"""
from __future__ import annotations

import pandas as pd

from ..errors import InputError
from ..vocab import IDENTIFIER_ROLES
from ..egress.vocabulary import words_of
from .customer_ids import canonical


def _key(text: str) -> str:
    """The customer-id canonical form (NFKC, invisible characters dropped, trimmed), case-folded."""
    return canonical(text).casefold()


def _values_of(column: pd.Series, role: str) -> set[str]:
    """What of the column's values an allowed word must not be, in canonical, case-folded form:
    every whole value; for names each of their words, for e-mail addresses each word of the
    local part (split as the allow rule splits text)."""
    keys = {_key(v) for v in column.dropna().astype(str).unique()}
    if role == "name":
        keys |= {w for value in keys for w in words_of(value)}
    elif role == "email":
        keys |= {w for value in keys for w in words_of(value.split("@", 1)[0])}
    return keys - {""}


def check(allow_words: tuple[str, ...], frame: pd.DataFrame, roles: dict[str, str], config: str,
          customers: str) -> None:
    """InputError for the first entry of `allow_words` that is, or holds a word that is, personal
    data (see the module). Words are split as the allow rule splits them, since each word of an
    entry is what it lets leave."""
    if not allow_words:
        return
    from ..anonymize import find_pii  # the detectors load on first use, so a config without the key pays nothing

    def refuse(entry: str, why: str) -> InputError:
        return InputError(f"{config}: allow_words entry {entry!r} {why}; the allow-list names words of the business, "
                          "never a person's data: remove it")

    wanted: dict[str, str] = {}
    for entry in allow_words:
        for text in (entry, *sorted(words_of(entry))):
            found = find_pii(text)
            if found:
                span = text[found[0].start:found[0].end]
                what = "is" if span.strip() == entry.strip() else f"holds {span!r}, which is"
                raise refuse(entry, f"{what} personal data to the detectors ({found[0].entity_type})")
        for word in {_key(entry), *(_key(w) for w in words_of(entry))}:
            wanted.setdefault(word, entry)
    for column, role in roles.items():
        if column not in frame or not (role == "id" or role in IDENTIFIER_ROLES):
            continue
        hit = sorted(set(wanted) & _values_of(frame[column], role))
        if hit:
            raise refuse(wanted[hit[0]], f"is, or holds, a value of column {column!r} ({role}) in {customers}")
