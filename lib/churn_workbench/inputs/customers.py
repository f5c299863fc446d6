"""Typing a customers table: every column gets its role (vocab.ROLES) and its type."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import InputError
from ..features import suggest_sensitive
from ..vocab import IDENTIFIER_ROLES
from .columns import (
    SHOW_ROWS,
    describe_columns,
    describe_rows,
    normalise_name,
    resolve_column,
)
from .dataconfig import DataConfig
from .files import check_header, read_table
from .values import BOOLEAN_SPELLINGS, NO_TOKENS, YES_TOKENS, as_text, read_ids, type_feature

# Normalised column names that always hold a direct identifier of a person.
IDENTIFIER_NAMES = frozenset({
    "name", "first_name", "firstname", "given_name", "last_name", "lastname", "surname",
    "family_name", "full_name", "fullname", "customer_name", "email", "e_mail", "email_address",
    "mail", "phone", "phone_number", "telephone", "tel", "mobile", "mobile_number", "cell",
    "address", "street", "street_address", "address_line_1", "address_line_2", "iban",
    "account_number", "card_number", "credit_card", "ssn", "social_security_number",
    "national_id", "passport", "passport_number", "tax_id", "ip", "ip_address",
    "date_of_birth", "dob", "birth_date", "birthdate", "birthday",
})
NAME_COLUMN_NAMES = frozenset({"name", "first_name", "firstname", "given_name", "last_name", "lastname", "surname",
                               "family_name", "full_name", "fullname", "customer_name", "forename", "nom", "prenom"})
PHONE_COLUMN_NAMES = frozenset({"phone", "phone_number", "telephone", "tel", "mobile", "mobile_number", "cell",
                                "msisdn", "fax"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[\d\s().\-/]{7,}")
NAME_PART_COLUMN_NAMES = frozenset({"first_name", "firstname", "given_name", "forename", "prenom", "middle_name",
                                    "last_name", "lastname", "surname", "family_name", "nom"})


def name_part(column: str) -> bool:
    """Does this name column hold one part of the full name (first name, surname) rather than all of it?"""
    return normalise_name(column) in NAME_PART_COLUMN_NAMES


# Most protective first: when a column is listed under two data-config keys, the earlier role wins.
_PROTECTION = (*IDENTIFIER_ROLES, "excluded", "sensitive")


def identifier_role(column: str, values: pd.Series) -> str:
    """The identifier role of a column known to identify a person: what its name or values say it holds."""
    norm = normalise_name(column)
    if norm in NAME_COLUMN_NAMES or norm.endswith("_name"):
        return "name"
    sample = values.dropna().astype(str).head(2000)
    if "mail" in norm or (len(sample) and sample.str.fullmatch(_EMAIL.pattern).mean() >= 0.5):
        return "email"
    if norm in PHONE_COLUMN_NAMES or (len(sample) and sample.str.fullmatch(_PHONE.pattern).mean() >= 0.8
                                      and sample.str.count(r"\d").mean() >= 7 and not norm.endswith("id")):
        return "phone"
    return "identifier"


@dataclass
class CustomerTable:
    """A typed customers file.

    frame: one row per customer. "customer_id" (string), "churned" (Int8: 1, 0, <NA> = unknown),
        then the file's other columns: features as float64 (numbers, 0/1 booleans, days before
        the newest date) or string (categories); identifier and excluded columns as strings;
        "consent_given" as bool.
    roles: column -> a role of vocab.ROLES ("id", "label", "feature", "excluded", "sensitive",
        "consent", or an identifier role: "name", "email", "phone", "identifier").
    warnings: one line per typing decision a person should know about (additive field).
    kinds: feature column -> "numeric" | "boolean" | "date" | "categorical" (additive field).
    """

    frame: pd.DataFrame
    roles: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    leakage_allowed: list[str] = field(default_factory=list)   # the data config's allow_columns

    def columns_with_role(self, *roles: str) -> list[str]:
        return [c for c, r in self.roles.items() if r in roles]


def _ids(series: pd.Series, source: str, column: str) -> pd.Series:
    ids = read_ids(series, source, f"'{column}' (id)", "row needs an id")  # canonical (boundary/customer_ids.py)
    codes, _ = pd.factorize(ids)
    _, first = np.unique(codes, return_index=True)
    repeats = np.flatnonzero(pd.Series(codes).duplicated().to_numpy())
    if len(repeats):
        pairs = ", ".join(f"{r + 1} (same as row {first[codes[r]] + 1})" for r in repeats[:SHOW_ROWS])
        more = f" and {len(repeats) - SHOW_ROWS} more" if len(repeats) > SHOW_ROWS else ""
        raise InputError(f"{source}: column '{column}' (id) has duplicate ids at rows {pairs}{more}; "
                         "keep one row per customer")
    return ids.astype("string")


def _label(series: pd.Series, source: str, column: str, positive_label: str | None,
           warnings: list[str]) -> pd.Series:
    """Int8 0/1 with <NA> for unknown."""
    if ptypes.is_bool_dtype(series.dtype):
        return series.astype("boolean").astype("Int8")
    text = as_text(series)
    lowered = text.str.lower()
    out = pd.Series(pd.array([pd.NA] * len(text), dtype="Int8"), index=series.index)
    yes, no = YES_TOKENS, NO_TOKENS
    if positive_label:
        positive = positive_label.strip().lower()
        if positive in yes:
            ones, zeros = lowered.isin(yes), lowered.isin(no)
        elif positive in no:  # "retained = no" style files: a "no" is churn, a "yes" is not
            ones, zeros = lowered.isin(no), lowered.isin(yes)
        else:
            ones, zeros = lowered == positive, lowered.isin(no)
    else:
        ones, zeros = lowered.isin(yes), lowered.isin(no)
    out[ones.to_numpy()] = 1
    out[zeros.to_numpy()] = 0
    other = lowered.notna() & ~ones & ~zeros
    if positive_label and lowered.notna().any() and not ones.any():
        # A churn value that occurs nowhere cannot be meant: read on, every churner would be
        # stored as not churned (one other value is otherwise taken as "not churned").
        values = ", ".join(repr(str(v)[:20]) for v in pd.unique(text[lowered.notna()])[:4])
        raise InputError(f"{source}: column '{column}' (label) holds {values}; positive_label {positive_label!r} in the "
                         "data config matches none of them, set it to the value that means churn")
    if positive_label and other.any():
        distinct = pd.unique(lowered[other])
        if len(distinct) == 1:  # e.g. positive_label = "left" and the other value is "stayed"
            out[other.to_numpy()] = 0
            warnings.append(f"column '{column}' (label): '{positive_label}' is churn, '{text[other].iloc[0]}' is read as not churned")
            other = pd.Series(False, index=series.index)
    bad = np.flatnonzero(other.to_numpy())
    if len(bad):
        values = ", ".join(repr(str(v)[:20]) for v in pd.unique(text.iloc[bad])[:3])
        # With positive_label set, the advice is to change it (it matches none of these values).
        advice = (f"; positive_label {positive_label!r} in the data config matches none of them, set it to the "
                  "value that means churn" if positive_label else ", or set positive_label in the data config")
        raise InputError(
            f"{source}: column '{column}' (label) has unexpected value(s) {values} at {describe_rows(bad)}; "
            f"use {BOOLEAN_SPELLINGS}, or blank for unknown{advice}"
        )
    return out


def _consent_flags(series: pd.Series, source: str, column: str) -> pd.Series:
    """bool; blank means no consent (fails closed)."""
    if ptypes.is_bool_dtype(series.dtype):
        return series.fillna(False).astype(bool)
    lowered = as_text(series).str.lower()
    yes = lowered.isin(YES_TOKENS)
    no = lowered.isin(NO_TOKENS) | lowered.isna()
    bad = np.flatnonzero((~yes & ~no).to_numpy())
    if len(bad):
        raise InputError(f"{source}: column '{column}' (consent) has values that are not true/false at {describe_rows(bad)}; "
                         f"use {BOOLEAN_SPELLINGS} (blank = no consent)")
    return yes.astype(bool)


def _looks_like_emails(text: pd.Series) -> bool:
    sample = text.dropna()
    if len(sample) == 0:
        return False
    sample = sample.sample(min(len(sample), 2000), random_state=0)
    return sample.str.fullmatch(_EMAIL.pattern).mean() >= 0.5


def type_customers(df: pd.DataFrame, cfg: DataConfig, source: str) -> CustomerTable:
    """Give every column of a customers table its role and type (see the module docstring).

    df: the file as read (`read_table`), one row per customer. cfg: the data config.
    source: the file name used in messages. Returns a `CustomerTable` whose frame has the
    canonical columns "customer_id" and "churned" first, then the other columns in file order.
    """
    if df.shape[1] == 0:
        raise InputError(f"{source}: no columns; export the table with a header row")
    if len(df) == 0:
        raise InputError(f"{source}: has a header but no data rows; export the customers table with its rows")
    columns = [str(c).strip() for c in df.columns]
    check_header(Path(source), columns)
    # Imported here: boundary.data_config uses this package's column helpers (an import cycle otherwise).
    from ..boundary.data_config import check_against_header
    check_against_header(cfg, columns, source)  # every column the config names exists, spelt exactly
    df = df.set_axis(columns, axis=1).reset_index(drop=True)
    warnings: list[str] = []
    roles: dict[str, str] = {}
    out: dict[str, pd.Series] = {}

    id_col = resolve_column(columns, cfg.id_column)
    if id_col is None:
        raise InputError(f"{source}: id column '{cfg.id_column}' not found; columns found: {describe_columns(columns)}; "
                         "set id_column in the data config (--data-config)")
    label_col = resolve_column(columns, cfg.label_column)
    for canonical, actual in (("customer_id", id_col), ("churned", label_col)):
        if actual is not None and actual != canonical and canonical in columns:
            raise InputError(f"{source}: column '{actual}' is configured as '{canonical}' but the file also has a "
                             f"column '{canonical}'; rename or exclude one of them")
    out["customer_id"] = _ids(df[id_col], source, id_col)
    roles["customer_id"] = "id"
    if label_col is None:
        out["churned"] = pd.Series(pd.array([pd.NA] * len(df), dtype="Int8"))
        warnings.append(f"no label column '{cfg.label_column}': every customer will be scored, none used for training")
    else:
        out["churned"] = _label(df[label_col], source, label_col, cfg.positive_label, warnings)
    roles["churned"] = "label"
    taken = {id_col, label_col}

    declared: dict[str, str] = {}
    for wanted, role in cfg.declared_roles().items():
        actual = resolve_column(columns, wanted)  # explicit names were found exactly; defaults may be absent
        if actual is not None and actual not in taken:
            # A column listed under two keys: the more protective role wins.
            declared[actual] = min(declared.get(actual, role), role, key=_PROTECTION.index)
    consent_col = resolve_column(columns, "consent_given")

    kinds: dict[str, str] = {}
    for col in columns:
        if col in taken:
            continue
        role = declared.get(col)
        if role in IDENTIFIER_ROLES:
            text = as_text(df[col]).astype("string")
            out[col], roles[col] = text, identifier_role(col, text) if role == "identifier" else role
        elif role == "excluded":
            out[col], roles[col] = as_text(df[col]).astype("string"), "excluded"
        elif col == consent_col:
            out[col], roles[col] = _consent_flags(df[col], source, col), "consent"
        elif normalise_name(col) in IDENTIFIER_NAMES:
            text = as_text(df[col]).astype("string")
            out[col], roles[col] = text, identifier_role(col, text)
            warnings.append(f"column '{col}' is named like a personal identifier: treated as an identifier, never a feature")
        else:
            typed = type_feature(df[col], col, source)
            if typed.kind in ("categorical", "excluded") and _looks_like_emails(typed.values.astype(object)):
                out[col], roles[col] = typed.values.astype("string"), "email"
                warnings.append(f"column '{col}' holds e-mail addresses: treated as an identifier, never a feature")
                continue
            out[col] = typed.values
            roles[col] = "excluded" if typed.kind == "excluded" else (role or "feature")
            if typed.kind != "excluded":
                kinds[col] = typed.kind
            if typed.note:
                warnings.append(typed.note)
    declared_safe = {resolve_column(columns, c) for c in cfg.not_sensitive_columns}
    for col in suggest_sensitive([c for c, r in roles.items() if r == "feature"]):
        if col not in declared_safe:
            roles[col] = "sensitive"
            warnings.append(f"column '{col}' looks like a sensitive attribute: never a feature nor a driver, reported "
                            "per group in the model card (list it under not_sensitive_columns to use it as a feature)")
    frame = pd.concat(out, axis=1)
    allowed = [c for c in (resolve_column(columns, w) for w in cfg.allow_columns) if c is not None]
    return CustomerTable(frame=frame, roles=roles, warnings=warnings, kinds=kinds, leakage_allowed=allowed)


def read_customers(path: str | Path, cfg: DataConfig | None = None) -> CustomerTable:
    """`read_table` then `type_customers`, with the encoding declared in the data config."""
    cfg = cfg or DataConfig()
    return type_customers(read_table(path, encoding=cfg.encoding), cfg, str(path))
