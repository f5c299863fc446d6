"""A data config checked against the customers file's header before anything is read further.

Every column a data config names must be a column of the file, spelt exactly (a name in another
case or spacing is not silently taken for it: the error lists the near matches, found with
difflib). The defaults (`customer_id`, `churned`, and the `name`/`email`/`phone` identifier
columns) keep their looser matching and may be absent where the README says so. A config that
contradicts itself is refused: the id or label column given another role, a column under two
role keys, a column both
sensitive and not, a column the leakage guard must keep although another key takes it out of
the features, the id column used as the label.

Returns the config's column names resolved to the file's; raises InputError (one line, naming
the data config, the key and the column).
"""
from __future__ import annotations

import difflib
import unicodedata
from typing import Sequence

from ..errors import InputError, UsageError
from .name_lists import comma_names
from ..inputs.columns import describe_columns, normalise_name
from ..inputs.dataconfig import LIST_KEYS, ROLE_KEYS, DataConfig
from ..vocab import IDENTIFIER_ROLES

DEFAULTS = DataConfig()


def near_matches(wanted: str, columns: Sequence[str], n: int = 3) -> list[str]:
    """Columns that look like `wanted`: same name ignoring case and spacing first, then difflib's."""
    same = [c for c in columns if normalise_name(c) == normalise_name(wanted)]
    close = difflib.get_close_matches(wanted, list(columns), n=n, cutoff=0.6)
    lowered = difflib.get_close_matches(wanted.lower(), [c.lower() for c in columns], n=n, cutoff=0.6)
    close += [c for c in columns if c.lower() in lowered]
    return list(dict.fromkeys(same + close))[:n]


def _where(cfg: DataConfig, source: str) -> str:
    return f"{cfg.source}: " if cfg.source else f"{source}: the data config's "


def _missing(cfg: DataConfig, source: str, key: str, wanted: str, columns: Sequence[str]) -> InputError:
    # Canonically equal names (é as one letter or as e + a combining accent) look identical: say
    # why they differ instead of suggesting a name that looks the same.
    same_form = [c for c in columns if unicodedata.normalize("NFC", c) == unicodedata.normalize("NFC", wanted)]
    if same_form:
        return InputError(f"{_where(cfg, source)}{key} names {wanted!r}, which differs from the column {same_form[0]!r} "
                          f"of {source} in its Unicode form only (accents written as separate marks); write the "
                          "name as the file does")
    near = near_matches(wanted, columns)
    hint = (f"did you mean {' or '.join(repr(c) for c in near)}? (names must match exactly)" if near
            else f"columns found: {describe_columns(columns)}")
    return InputError(f"{_where(cfg, source)}{key} names '{wanted}', which is not a column of {source}; {hint}")


def check_contradictions(cfg: DataConfig, source: str = "") -> None:
    """What the config says about its own columns must not contradict itself (header-free checks)."""
    where = _where(cfg, source)
    if cfg.id_column == cfg.label_column:
        raise InputError(f"{where}id_column and label_column both name '{cfg.id_column}'; the label is another column")
    for special, key in ((cfg.id_column, "id_column"), (cfg.label_column, "label_column")):
        for other in (*ROLE_KEYS, *LIST_KEYS):
            if special in getattr(cfg, other):
                raise InputError(f"{where}'{special}' is the {key} and is also listed under {other}; "
                                 f"the {key.split('_')[0]} column has that role only")
    # A column has one role: a phone column that is also "sensitive", or a name column that is also
    # the e-mail column, would be read one way and reported another.
    roles: dict[str, str] = {}
    for key in ROLE_KEYS:
        for column in getattr(cfg, key):
            if column in roles:
                raise InputError(f"{where}'{column}' is listed under both {roles[column]} and {key}; a column has "
                                 "one role, keep one")
            roles[column] = key
    both = sorted(set(cfg.sensitive_columns) & set(cfg.not_sensitive_columns))
    if both:
        raise InputError(f"{where}'{both[0]}' is listed under both sensitive_columns and not_sensitive_columns; keep one")
    for key in ROLE_KEYS:
        kept = sorted(set(getattr(cfg, key)) & set(cfg.allow_columns))
        if kept:
            raise InputError(f"{where}'{kept[0]}' is listed under allow_columns (keep it as a feature) and under {key} "
                             "(never a feature); keep one")


def check_against_header(cfg: DataConfig, columns: Sequence[str], source: str) -> None:
    """Every column the config names explicitly exists in `columns`, spelt exactly."""
    check_contradictions(cfg, source)
    for key in ("id_column", "label_column"):
        wanted = getattr(cfg, key)
        if wanted != getattr(DEFAULTS, key) and wanted not in columns:
            raise _missing(cfg, source, key, wanted, columns)
    for key in (*ROLE_KEYS, *LIST_KEYS):
        names = getattr(cfg, key)
        if names == getattr(DEFAULTS, key):
            continue  # the defaults (name, email, phone) may be absent
        for wanted in names:
            if wanted not in columns:
                raise _missing(cfg, source, key, wanted, columns)


def check_allow_columns(value: str, roles: dict[str, str], where: str = "the customers in the store",
                        label: str = "--allow-columns") -> None:
    """`--allow-columns` (the train parameter), and WORKBENCH_LEAKAGE_ALLOW which it adds to (`label`
    names which), meets the rules of the data config's allow_columns:
    each name is a column of the imported customers, spelt exactly, and a feature column -- the id,
    the label, identifiers and columns taken out of the features have nothing for the leakage guard
    to keep. `roles`: column -> role as the ingest recorded them (table customer_columns)."""
    for wanted in comma_names(value, label, "column name"):
        role = _role_of(wanted, roles, where, label)
        if role in ("id", "label", "excluded", "sensitive", "consent", *IDENTIFIER_ROLES):
            raise UsageError(f"{label} names '{wanted}', the {role} column, which is never a feature: the "
                             "leakage guard keeps feature columns only")


def check_value_column(value: str, roles: dict[str, str], where: str = "the customers in the store",
                       label: str = "WORKBENCH_VALUE_COLUMN") -> None:
    """WORKBENCH_VALUE_COLUMN (what a kept customer is worth, for value-weighted targeting) names
    one column of the imported customers, spelt exactly, holding a value: not the id, the label,
    a consent flag or an identifier (an e-mail is worth nothing as a number)."""
    wanted = value.strip()
    role = _role_of(wanted, roles, where, label)
    if role in ("id", "label", "consent", *IDENTIFIER_ROLES):
        raise UsageError(f"{label} names '{wanted}', the {role} column, which holds no value of a customer: "
                         "name a column of amounts (e.g. monthly charges), or unset it for 1 each")


def _role_of(wanted: str, roles: dict[str, str], where: str, label: str) -> str:
    """The role of column `wanted`, spelt exactly; a UsageError naming `label` and the nearest
    columns when there is no such column."""
    role = roles.get(wanted)
    if role is None:
        near = near_matches(wanted, list(roles))
        hint = (f"did you mean {' or '.join(repr(c) for c in near)}? (names must match exactly)" if near
                else f"columns: {describe_columns(list(roles))}")
        raise UsageError(f"{label} names '{wanted}', which is not a column of {where}; {hint}")
    return role
