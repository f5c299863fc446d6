"""Typing cell values: missing tokens, numbers stored as text, dates, booleans."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..boundary.customer_ids import canonical_series, malformed
from ..boundary.numbers import PLAIN_FLOAT
from ..errors import InputError
from .columns import describe_rows

NUMERIC_SHARE = 0.95
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "#n/a"})
TRUE_TOKENS = frozenset({"true", "yes", "y", "t"})
FALSE_TOKENS = frozenset({"false", "no", "n", "f"})
# Every spelling of a yes/no cell the readers accept (labels, consent, outcomes), and the words
# their error messages use to list them (a test keeps the two in step).
YES_TOKENS = TRUE_TOKENS | {"1", "1.0"}
NO_TOKENS = FALSE_TOKENS | {"0", "0.0"}
BOOLEAN_SPELLINGS = "0/1, true/false, yes/no, y/n or t/f (any case; 1.0/0.0 too)"
_US_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_EU_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?")
_SPACE_GROUPS = re.compile(r"[+-]?\d{1,3}(?:[ '\u00a0\u202f\u2009]\d{3})+(?:[.,]\d+)?")
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
                 "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M",
                 "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S")


def as_text(series: pd.Series) -> pd.Series:
    """Object Series of stripped strings, NaN for missing; integral floats lose their '.0'."""
    if ptypes.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=float)
        out = np.full(len(values), np.nan, dtype=object)
        ok = np.isfinite(values)
        integral = ok & (np.floor(values) == values) & (np.abs(values) < 2**53)
        out[integral] = values[integral].astype(np.int64).astype(str)
        out[ok & ~integral] = values[ok & ~integral].astype(str)
        return pd.Series(out, index=series.index, dtype=object)
    if ptypes.is_bool_dtype(series.dtype) or ptypes.is_integer_dtype(series.dtype):
        out = series.astype(object).where(series.notna(), np.nan)
        return out.map(lambda v: np.nan if pd.isna(v) else str(v)).astype(object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if ptypes.infer_dtype(uniques, skipna=True) == "string":  # the common case, vectorised
        stripped = pd.Series(np.asarray(uniques, dtype=object), dtype=object).str.strip()
        missing = stripped.str.lower().isin(MISSING_TOKENS).to_numpy()
        cleaned = stripped.to_numpy(dtype=object)
        cleaned[missing] = np.nan
    else:
        cleaned = np.array([_clean_token(u) for u in uniques], dtype=object)
    out = np.full(len(codes), np.nan, dtype=object)
    present = codes >= 0
    out[present] = cleaned[codes[present]] if len(cleaned) else np.nan
    return pd.Series(out, index=series.index, dtype=object)


def _clean_token(value) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return np.nan
    text = value.isoformat() if isinstance(value, pd.Timestamp) else str(value)
    text = text.strip()
    return np.nan if text.lower() in MISSING_TOKENS else text


def parse_numbers(values: np.ndarray) -> np.ndarray:
    """Floats from strings written the ways spreadsheets write numbers; NaN where they do not parse.

    `values`: 1-D object array of stripped strings (no missing values). Returns float64, same shape.
    """
    numbers = read_numbers(values)
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers


def read_numbers(values: np.ndarray) -> np.ndarray:
    """`parse_numbers`, but a number beyond float64's range (`1e400`, a thousand digits) or written
    as infinite is ±inf, not NaN: it is a number the file meant, which a reader must not take for
    a stray text and blank silently."""
    s = pd.Series(values, dtype=object).astype(str)
    negative_paren = s.str.fullmatch(r"\(.*\)")
    s = s.where(~negative_paren, "-" + s.str.slice(1, -1))
    s = s.str.replace(r"^([+-]?)\s*[$€£¥]\s*", r"\1", regex=True).str.replace(r"\s*[$€£¥%]$", "", regex=True).str.strip()
    spaced = s.str.fullmatch(_SPACE_GROUPS.pattern)
    s = s.where(~spaced, s.str.replace(r"[ '\u00a0\u202f\u2009]", "", regex=True))
    us = s.str.fullmatch(_US_NUMBER.pattern)
    eu = s.str.fullmatch(_EU_NUMBER.pattern)
    european = (eu & ~us).sum() > (us & ~eu).sum()
    if european:
        converted = s.where(~eu, s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    else:
        converted = s.where(~us, s.str.replace(",", "", regex=False))
    numbers = pd.to_numeric(converted, errors="coerce").to_numpy(dtype=float)
    # pandas reads a number beyond float64's range as not a number; Python reads it as the ±inf it is.
    lost = np.isnan(numbers) & converted.str.fullmatch(PLAIN_FLOAT.pattern, flags=re.IGNORECASE).to_numpy(dtype=bool)
    numbers[lost] = [float(text) for text in converted.to_numpy(dtype=object)[lost]]
    return numbers


def _refuse_unrepresentable(unrepresentable: np.ndarray, source: str, name: str) -> None:
    """A present cell of a numeric column whose number no float can hold (beyond ±1.8e308, or
    infinite) is refused naming the rows: blanked, the customer's value would be lost unseen."""
    rows = np.flatnonzero(unrepresentable)
    if len(rows):
        raise InputError(f"{source + ': ' if source else ''}column '{name}' holds a number beyond the range of a "
                         f"64-bit float (±1.8e308) or infinite at {describe_rows(rows)}; fix the cell, or leave it "
                         "blank if the value is unknown")


def parse_dates(values: np.ndarray) -> pd.DatetimeIndex:
    """Timestamps (naive, UTC) from strings; NaT where they do not parse. Best single format wins."""
    s = pd.Series(values, dtype=object).astype(str)
    best = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=True)
    if best.isna().any():
        for fmt in _DATE_FORMATS:
            candidate = pd.to_datetime(s, format=fmt, errors="coerce", utc=True)
            if candidate.notna().sum() > best.notna().sum():
                best = candidate
    return pd.DatetimeIndex(best).tz_convert(None)


def _bool_values(uniques: np.ndarray, codes: np.ndarray, index: pd.Index) -> pd.Series | None:
    """1.0/0.0/NaN if every distinct non-missing value is a boolean token, else None."""
    lowered = pd.Series(uniques, dtype=object).str.lower()
    if len(lowered) == 0 or not lowered.isin(TRUE_TOKENS | FALSE_TOKENS).all():
        return None
    values = np.append(np.where(lowered.isin(TRUE_TOKENS), 1.0, 0.0), np.nan)
    return pd.Series(values[codes], index=index)  # code -1 (missing) picks the trailing NaN


@dataclass
class _Typed:
    values: pd.Series
    kind: str          # numeric | boolean | date | categorical | excluded
    note: str | None = None


def type_feature(series: pd.Series, name: str, source: str = "") -> _Typed:
    """Type one candidate feature column. Works on unique values, so 1M rows cost little.
    `source` (the file) names where a refused cell is."""
    if ptypes.is_bool_dtype(series.dtype):
        return _Typed(series.astype("float64"), "boolean")
    if ptypes.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        _refuse_unrepresentable(np.isinf(values.to_numpy()), source, name)  # NaN: a missing cell
        return _Typed(values, "numeric")
    if ptypes.is_datetime64_any_dtype(series.dtype):
        stamps = pd.to_datetime(series, utc=True).dt.tz_convert(None)
        return _Typed((stamps.max() - stamps).dt.total_seconds() / 86400.0, "date")
    if ptypes.is_timedelta64_dtype(series.dtype):
        return _Typed(series.dt.total_seconds() / 86400.0, "numeric")

    text = as_text(series)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    present = codes >= 0
    n_present = int(present.sum())
    if n_present == 0:
        return _Typed(text, "excluded", f"column '{name}' is blank in every row: excluded")
    counts = np.bincount(codes[present], minlength=len(uniques))
    uniques = np.asarray(uniques, dtype=object)

    booleans = _bool_values(uniques, codes, series.index)
    if booleans is not None:
        return _Typed(booleans, "boolean")

    numbers = read_numbers(uniques)
    parsed = np.isfinite(numbers)
    share = counts[parsed | np.isinf(numbers)].sum() / n_present
    if share >= NUMERIC_SHARE:
        _refuse_unrepresentable(present & np.isinf(numbers)[np.maximum(codes, 0)], source, name)
        out = np.full(len(codes), np.nan)
        out[present] = numbers[codes[present]]
        note = None
        if not parsed.all():
            bad = np.flatnonzero(present & ~parsed[np.maximum(codes, 0)])
            note = (f"column '{name}': {len(bad)} value(s) are not numbers and were treated as blank "
                    f"({describe_rows(bad)})")
        return _Typed(pd.Series(out, index=series.index), "numeric", note)

    has_digit = pd.Series(uniques).str.contains(r"\d").to_numpy()
    if counts[has_digit].sum() / n_present >= NUMERIC_SHARE:
        stamps = parse_dates(uniques)
        ok = ~np.isnat(stamps.to_numpy())
        if counts[ok].sum() / n_present >= NUMERIC_SHARE:
            days = (stamps.max() - stamps).total_seconds().to_numpy() / 86400.0
            out = np.full(len(codes), np.nan)
            out[present] = days[codes[present]]
            note = None
            if not ok.all():
                bad = np.flatnonzero(present & ~ok[np.maximum(codes, 0)])
                note = f"column '{name}': {len(bad)} value(s) are not dates and were treated as blank ({describe_rows(bad)})"
            return _Typed(pd.Series(out, index=series.index), "date", note)

    if len(uniques) == 1 and n_present == len(codes):
        return _Typed(text, "excluded", f"column '{name}' has a single value in every row: excluded")
    if n_present >= 50 and len(uniques) >= 0.9 * n_present:
        return _Typed(text, "excluded", f"column '{name}' has a distinct value in nearly every row "
                      "(free text or an identifier?): excluded from features")
    note = None
    if share >= 0.5:
        bad = np.flatnonzero(present & ~parsed[np.maximum(codes, 0)])
        note = (f"column '{name}': {share:.0%} of values are numbers but {len(bad)} are not ({describe_rows(bad)}): "
                "kept as a category; fix those cells if the column is numeric")
    return _Typed(text.astype("string"), "categorical", note)


def read_ids(series: pd.Series, source: str, label: str, needs: str) -> pd.Series:
    """A column of customer ids in canonical form (boundary/customer_ids.py), checked: a blank id
    is refused ("every <needs>"), and so is a malformed one (a control character inside, too
    long), each in one line naming the rows. `label`: how the message names the column."""
    ids = canonical_series(as_text(series))
    blank = np.flatnonzero(ids.isna().to_numpy())
    if len(blank):
        raise InputError(f"{source}: column {label} is blank at {describe_rows(blank)}; every {needs}")
    bad = malformed(ids)
    if bad:
        raise InputError(f"{source}: column {label} has {bad[0]}, at {describe_rows(bad[1])}")
    return ids
