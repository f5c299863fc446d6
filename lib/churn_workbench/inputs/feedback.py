"""Reading the feedback file."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import InputError
from .columns import describe_rows, require_columns
from .files import read_table
from .values import as_text, parse_dates, read_ids

MAX_TEXT_CHARS = 10_000

def parse_timestamps(series: pd.Series, source: str, column: str) -> pd.Series:
    """datetime64[ns] (naive UTC), NaT for blanks; unparseable values raise InputError."""
    if ptypes.is_datetime64_any_dtype(series.dtype):
        stamps = pd.to_datetime(series, utc=True)
        return stamps.dt.tz_convert(None).astype("datetime64[ns]")
    text = as_text(series)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    stamps = parse_dates(np.asarray(uniques, dtype=object)) if len(uniques) else pd.DatetimeIndex([])
    ok = ~np.isnat(stamps.to_numpy())
    bad = np.flatnonzero((codes >= 0) & ~ok[np.maximum(codes, 0)]) if len(uniques) else np.array([], int)
    if len(bad):
        raise InputError(f"{source}: column '{column}' has values that are not dates at {describe_rows(bad)}; "
                         "use ISO 8601 (2026-03-31 or 2026-03-31T14:05:00) or leave blank")
    values = np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[ns]")
    present = codes >= 0
    values[present] = stamps.to_numpy().astype("datetime64[ns]")[codes[present]]
    return pd.Series(values, index=series.index)


def _feedback_id(customer_id: str, text: str, created) -> str:
    key = "\x1f".join((customer_id, "" if pd.isna(created) else str(created), text))
    return "F" + hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def read_feedback(path: str | Path, encoding: str = "utf-8", id_column: str = "customer_id",
                  on_long_text: str = "truncate") -> pd.DataFrame:
    """Feedback items: feedback_id, customer_id, text, created_at, channel, text_truncated.

    `customer_id` may also be called `id_column` (the customers file's configured id name).
    A missing `feedback_id` is generated from the row's content ("F" + 16 hex digits of a hash of
    customer id, created_at and text; repeats of an identical row get "-2", "-3"), so the same
    file always yields the same ids regardless of row order. Texts longer than MAX_TEXT_CHARS are
    truncated and flagged; blank texts are dropped; both are counted in `frame.attrs["warnings"]`.
    `on_long_text="reject"` raises InputError for over-long texts instead of truncating them.
    A file with a header and no rows gives an empty frame (no feedback is legitimate).
    """
    source = str(path)
    df = read_table(path, encoding=encoding)
    cols = require_columns(df, source, ("customer_id", "text"), ("feedback_id", "created_at", "channel"),
                    aliases={"customer_id": id_column})
    warnings: list[str] = []
    ids = read_ids(df[cols["customer_id"]], source, f"'{cols['customer_id']}'", "feedback row needs a customer id")
    text = df[cols["text"]]
    text = text.where(text.isna(), text.astype(str))
    keep = text.notna() & (text.str.strip().str.len() > 0)
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} feedback row(s) with blank text were dropped ({describe_rows(np.flatnonzero(~keep.to_numpy()))})")
    lengths = text.str.len().fillna(0)
    truncated = (lengths > MAX_TEXT_CHARS) & keep
    if on_long_text not in ("truncate", "reject"):
        raise ValueError("on_long_text must be 'truncate' or 'reject'")
    if truncated.any() and on_long_text == "reject":
        raise InputError(f"{source}: column '{cols['text']}' has texts longer than {MAX_TEXT_CHARS} characters at "
                         f"{describe_rows(np.flatnonzero(truncated.to_numpy()))}; shorten or split them")
    if truncated.any():
        text = text.where(~truncated, text.str.slice(0, MAX_TEXT_CHARS))
        warnings.append(f"{int(truncated.sum())} feedback text(s) longer than {MAX_TEXT_CHARS} characters were truncated "
                        f"({describe_rows(np.flatnonzero(truncated.to_numpy()))})")
    created = (parse_timestamps(df[cols["created_at"]], source, cols["created_at"]) if cols["created_at"]
               else pd.Series(np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")))
    channel = (as_text(df[cols["channel"]]).astype("string") if cols["channel"]
               else pd.Series(pd.array([pd.NA] * len(df), dtype="string")))
    out = pd.DataFrame({
        "feedback_id": pd.Series(pd.array([pd.NA] * len(df), dtype="string")),
        "customer_id": ids.astype("string"),
        "text": text.astype("string"),
        "created_at": created.to_numpy(),
        "channel": channel.array,
        "text_truncated": truncated.to_numpy(dtype=bool),
    })
    if cols["feedback_id"]:
        given = as_text(df[cols["feedback_id"]])
        dup = np.flatnonzero((given.duplicated() & given.notna()).to_numpy())
        if len(dup):
            raise InputError(f"{source}: column '{cols['feedback_id']}' has duplicate ids at {describe_rows(dup)}; "
                             "feedback ids must be unique (or leave the column out to generate them)")
        out["feedback_id"] = given.astype("string")
    missing = out["feedback_id"].isna().to_numpy()
    if missing.any():
        generated = pd.Series([_feedback_id(c, t if isinstance(t, str) else "", w)
                               for c, t, w in zip(out["customer_id"].to_numpy()[missing],
                                                  out["text"].to_numpy()[missing],
                                                  out["created_at"].to_numpy()[missing])], dtype=object)
        occurrence = generated.groupby(generated).cumcount().to_numpy()
        generated = np.where(occurrence > 0, generated + "-" + (occurrence + 1).astype(str), generated)
        out.loc[missing, "feedback_id"] = generated
    out = out[keep.to_numpy()].reset_index(drop=True)
    out.attrs["warnings"] = warnings
    return out
