"""The data config: how a customers file's columns map to the workbench's column roles."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import InputError
from ..vocab import DEFAULT_IDENTIFIER_COLUMNS

# Data-config keys that list columns, and the role each gives them (vocab.ROLES).
# Column lists that are not roles: opting a column out of the sensitive-name suggestion, and
# columns the leakage guard must keep as features although they look like leaks.
LIST_KEYS = ("not_sensitive_columns", "allow_columns")
ROLE_KEYS = {"name_columns": "name", "email_columns": "email", "phone_columns": "phone",
             "identifier_columns": "identifier", "exclude_columns": "excluded", "sensitive_columns": "sensitive"}


@dataclass(frozen=True)
class DataConfig:
    """How to read a customers file: which column plays which role.

    Identifier roles: `name_columns`, `email_columns`, `phone_columns` say what a column holds
    (the anonymizer then matches its values in that column's own way); `identifier_columns` is
    any other direct identifier, and a column listed there whose name or values say it is a name,
    an e-mail or a phone number gets that role. `sensitive_columns` (gender, age, ...) are never
    features nor drivers; the model card reports performance per group of them.
    A feature column whose name suggests a sensitive attribute (features.suggest_sensitive) is
    made sensitive too, with a warning, unless listed in `not_sensitive_columns`.
    `allow_columns`: columns the model's leakage guard must keep (e.g. a legitimately strong one).
    `encoding`: the file's text encoding when it is not UTF-8 (it is never guessed).
    `allow_words`: words of the business that may leave the machine although they are rare in
    general language (product and place names, jargon): the egress allow rule's owner list.
    """

    id_column: str = "customer_id"
    label_column: str = "churned"
    positive_label: str | None = None
    name_columns: tuple[str, ...] = ()
    email_columns: tuple[str, ...] = ()
    phone_columns: tuple[str, ...] = ()
    identifier_columns: tuple[str, ...] = tuple(DEFAULT_IDENTIFIER_COLUMNS.values())
    exclude_columns: tuple[str, ...] = ()
    sensitive_columns: tuple[str, ...] = ()
    not_sensitive_columns: tuple[str, ...] = ()
    allow_columns: tuple[str, ...] = ()
    allow_words: tuple[str, ...] = ()
    encoding: str = "utf-8"
    source: str = field(default="", compare=False)   # the TOML file it was read from, for messages

    def declared_roles(self) -> dict[str, str]:
        """Column name as written in the config -> role, for every column listed under a role key."""
        return {column: role for key, role in ROLE_KEYS.items() for column in getattr(self, key)}


def load_data_config(path: str | Path | None) -> DataConfig:
    """Read a data-config TOML file (flat keys, the `DataConfig` field names); None -> defaults."""
    if path is None:
        return DataConfig()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: data config file not found; check the --data-config path")
    try:
        # utf-8-sig: a config saved by Windows Notepad starts with a byte-order mark, which TOML
        # does not allow; the CSV inputs accept one too.
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid UTF-8 TOML file ({exc}); fix the syntax") from exc
    known = {f.name for f in fields(DataConfig)} - {"source"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(known))}")
    values: dict = {}
    for key, value in raw.items():
        # Column names are matched exactly: spaces at a name's ends (a header's are dropped) would
        # never match, so they are refused rather than trimmed away unseen.
        if key not in ("allow_words", "positive_label", "encoding"):
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str) and name.strip() and name != name.strip():
                    raise InputError(f"{path}: key '{key}' names {name!r} with spaces at its ends; column names "
                                     f"match exactly, write {name.strip()!r}")
        if key in ROLE_KEYS or key in LIST_KEYS:
            # A bare string is refused, not wrapped: `x = "a, b"` would otherwise name one odd column.
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise InputError(f"{path}: key '{key}' must be a list of column names, e.g. {key} = [\"a\", \"b\"]"
                                 + (f" (got the string {value!r})" if isinstance(value, str) else ""))
            if len(set(value)) != len(value):
                raise InputError(f"{path}: key '{key}' lists a column twice; list each column once")
            values[key] = tuple(v.strip() for v in value)
        elif key == "allow_words":
            # A bare string is refused as for every list key: one rule, and `"a, b"` is not two words.
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise InputError(f"{path}: key 'allow_words' must be a list of words, e.g. allow_words = [\"Fritzbox\"]"
                                 + (f" (got the string {value!r})" if isinstance(value, str) else ""))
            values[key] = tuple(v.strip() for v in value)
        elif key == "positive_label":
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise InputError(f"{path}: key 'positive_label' must be a string, e.g. positive_label = \"Yes\"")
            values[key] = str(value).strip()
        else:
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{path}: key '{key}' must be a non-empty string")
            values[key] = value.strip()
    if "encoding" in values:
        try:
            "".encode(values["encoding"])
        except LookupError as exc:
            raise InputError(f"{path}: unknown encoding {values['encoding']!r}; use e.g. \"utf-8\" or \"latin-1\"") from exc
    # Checked against the customers file's header (boundary/data_config.py) when that file is read.
    return DataConfig(**values, source=str(path))
