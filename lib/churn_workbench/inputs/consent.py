"""Reading the consent register, or deriving it from a seed-style `consent_given` column."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import InputError
from ..vocab import PURPOSES
from .columns import describe_rows, require_columns
from .customers import CustomerTable
from .feedback import parse_timestamps
from .files import read_table
from .values import BOOLEAN_SPELLINGS, NO_TOKENS, YES_TOKENS, as_text, read_ids


def read_consent(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Consent register: customer_id, purpose, granted (bool), recorded_at (NaT allowed), source.

    Purposes are normalised (case, "-"/space -> "_") and must be one of consent.PURPOSES.
    `granted` must be an explicit true/false value: a blank is an error, not a guess. A missing
    `source` column is filled with the file name.
    """
    source = str(path)
    df = read_table(path, encoding=encoding)
    cols = require_columns(df, source, ("customer_id", "purpose", "granted"), ("recorded_at", "source"))
    ids = read_ids(df[cols["customer_id"]], source, f"'{cols['customer_id']}'", "consent record needs a customer id")
    purpose = as_text(df[cols["purpose"]]).str.lower().str.replace(r"[\s-]+", "_", regex=True)
    bad = np.flatnonzero((~purpose.isin(PURPOSES)).to_numpy())
    if len(bad):
        values = ", ".join(repr(str(v)[:30]) for v in pd.unique(purpose.iloc[bad])[:3])
        raise InputError(f"{source}: column '{cols['purpose']}' has unknown purpose(s) {values} at {describe_rows(bad)}; "
                         f"use one of {', '.join(PURPOSES)}")
    raw = df[cols["granted"]]
    if ptypes.is_bool_dtype(raw.dtype) and not raw.isna().any():
        granted = raw.astype(bool)
    else:
        lowered = as_text(raw).str.lower()
        yes = lowered.isin(YES_TOKENS)
        no = lowered.isin(NO_TOKENS)
        bad = np.flatnonzero((~yes & ~no).to_numpy())
        if len(bad):
            raise InputError(f"{source}: column '{cols['granted']}' must be {BOOLEAN_SPELLINGS} at {describe_rows(bad)}; "
                             "a blank is not accepted (record the decision explicitly)")
        granted = yes
    recorded = (parse_timestamps(df[cols["recorded_at"]], source, cols["recorded_at"]) if cols["recorded_at"]
                else pd.Series(np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")))
    src = as_text(df[cols["source"]]).fillna(Path(path).name) if cols["source"] else pd.Series([Path(path).name] * len(df))
    return pd.DataFrame({
        "customer_id": ids.astype("string").array,
        "purpose": purpose.astype("string").array,
        "granted": granted.to_numpy(dtype=bool),
        "recorded_at": recorded.to_numpy(),
        "source": src.astype("string").array,
    })


def consent_from_column(table: CustomerTable) -> pd.DataFrame:
    """Seed-style consent: the customers file's boolean `consent_given` means consent to all purposes.

    One record per customer and purpose (so 3 per customer), recorded_at NaT,
    source "customers.consent_given". No consent column -> an empty frame with those columns.
    """
    consent_cols = table.columns_with_role("consent")
    if not consent_cols:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string"), "purpose": pd.Series(dtype="string"),
                             "granted": pd.Series(dtype=bool), "recorded_at": pd.Series(dtype="datetime64[ns]"),
                             "source": pd.Series(dtype="string")})
    ids = table.frame["customer_id"].to_numpy()
    granted = table.frame[consent_cols[0]].to_numpy(dtype=bool)
    n = len(ids)
    return pd.DataFrame({
        "customer_id": pd.array(np.tile(ids, len(PURPOSES)), dtype="string"),
        "purpose": pd.array(np.repeat(PURPOSES, n), dtype="string"),
        "granted": np.tile(granted, len(PURPOSES)),
        "recorded_at": np.full(n * len(PURPOSES), np.datetime64("NaT"), dtype="datetime64[ns]"),
        "source": pd.array(["customers.consent_given"] * (n * len(PURPOSES)), dtype="string"),
    })
