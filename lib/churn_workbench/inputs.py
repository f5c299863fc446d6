"""Reading and typing the input files (customers, feedback, consent): validation at the boundary.

Every problem with an input file raises `InputError`. Its message is one line: the file, the
column, the first offending data rows (1-based, the header row is not counted) and what to do.
Messages name rows, never the values of id or identifier columns, because error messages end up
in notebooks and run records that are not meant to hold personal data.

Decisions (documented here because they change results):

- **Encoding.** Files must be UTF-8 (a byte-order mark is accepted). A file that is not valid
  UTF-8 is rejected with the first bad line; nothing is guessed, because a silent latin-1 guess
  turns "Müller" into "MÃ¼ller", and then the anonymizer no longer recognises the customer's own
  name in their feedback. A file in another encoding is read when that encoding is declared
  (`encoding = "latin-1"` in the data config, or `read_table(path, encoding=...)`).
- **Control characters** (C0 except tab, CR, LF; and DEL) reject the file: they mean a corrupt
  export or binary data. NUL bytes mean "not a CSV" (or UTF-16, which is named as such).
- **Delimiter**: the one of `,` `;` tab `|` that occurs most often in the header line.
- **Missing values**: blank or whitespace-only cells and the tokens NA, N/A, NaN, NULL, #N/A (any
  case). "None" and "-" are kept as values (they are real categories in some exports).
- **Numbers stored as text** are parsed when at least 95% of a column's non-blank values parse:
  surrounding spaces, currency symbols ($ € £ ¥), a trailing % (the number is kept in percent
  units: "3.5%" -> 3.5), accounting negatives "(12.50)", and thousands separators. The decimal
  convention is chosen per column: "1,234.50" (US) unless the column's unambiguous values use a
  decimal comma ("3,5", "1.234,50"). Values that do not parse become blank, with a warning.
- **Dates** (>= 95% parse as ISO 8601, or as d/m/Y, m/d/Y, d.m.Y -- the format that parses the
  most values wins, day-first on a tie) become "days before the newest date in the column".
- **Booleans** (true/false, yes/no, y/n, t/f in any case) become 0/1.
- **Columns that cannot be features** are given role "excluded" with a warning: all blank,
  a single constant value, and text columns whose values are nearly all distinct (free text or an
  undeclared identifier). Columns whose name says they hold a direct identifier (e.g. `address`,
  `phone_number`, `date_of_birth`) or whose values are mostly e-mail addresses get role
  "identifier", with a warning, even if the data config does not list them: they must never
  become features and never leave the machine.
- **Feedback text** longer than `MAX_TEXT_CHARS` is truncated (beginning kept) and flagged in a
  `text_truncated` column; rows with blank text are dropped (they carry nothing to analyse) and
  counted in `frame.attrs["warnings"]`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from .consent import PURPOSES

MAX_TEXT_CHARS = 10_000
NUMERIC_SHARE = 0.95
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "#n/a"})
TRUE_TOKENS = frozenset({"true", "yes", "y", "t"})
FALSE_TOKENS = frozenset({"false", "no", "n", "f"})
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
SHOW_ROWS = 5
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_US_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_EU_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?")
_SPACE_GROUPS = re.compile(r"[+-]?\d{1,3}(?:[ '\u00a0\u202f\u2009]\d{3})+(?:[.,]\d+)?")
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
                 "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M",
                 "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S")


class InputError(ValueError):
    """A problem with an input file; the message is one line saying where and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------- data config

@dataclass(frozen=True)
class DataConfig:
    """How to read a customers file whose columns are not named the default way.

    `encoding` is an addition to the data-config keys of the design: the file's text encoding
    when it is not UTF-8 (see the module docstring for why it is never guessed).
    """

    id_column: str = "customer_id"
    label_column: str = "churned"
    positive_label: str | None = None
    identifier_columns: tuple[str, ...] = ("name", "email", "phone")
    exclude_columns: tuple[str, ...] = ()
    encoding: str = "utf-8"


def load_data_config(path: str | Path | None) -> DataConfig:
    """Read a data-config TOML file (flat keys, the `DataConfig` field names); None -> defaults."""
    if path is None:
        return DataConfig()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: data config file not found; check the --data-config path")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid UTF-8 TOML file ({exc}); fix the syntax") from exc
    known = {f.name for f in fields(DataConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(known))}")
    values: dict = {}
    for key, value in raw.items():
        if key in ("identifier_columns", "exclude_columns"):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise InputError(f"{path}: key '{key}' must be a list of column names, e.g. {key} = [\"a\", \"b\"]")
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
    return DataConfig(**values)


# --------------------------------------------------------------------------- reading files

def _rows(positions: np.ndarray | Sequence[int], total: int | None = None) -> str:
    """'rows 3, 8, 15 (first 5 of 42)' from 0-based positions."""
    positions = np.asarray(positions)
    total = len(positions) if total is None else total
    shown = ", ".join(str(int(p) + 1) for p in positions[:SHOW_ROWS])
    word = "row" if total == 1 else "rows"
    more = f" (first {SHOW_ROWS} of {total})" if total > SHOW_ROWS else ""
    return f"{word} {shown}{more}"


def _columns_found(columns) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(repr(n[:40]) for n in names[:20])
    return shown + (f" ... ({len(names)} columns)" if len(names) > 20 else "")


def _codec(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig") else encoding


def read_table(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame.

    Parquet is recognised by its magic bytes (any suffix). CSV cells come back as strings, with
    empty cells as NaN; typing is `type_customers`' job. A file with a header and no data rows
    is returned empty (no feedback is legitimate); 0-byte and whitespace-only files are errors.

    Raises InputError for a missing or empty file, binary content, an encoding other than the
    declared one, control characters, duplicate column names and malformed CSV rows.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file; pass the CSV or Parquet file itself")
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{path}: file is empty; export the table as CSV (UTF-8) with a header row")
    if data[:4] == b"PAR1" or path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, data)
    if data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":
        raise InputError(f"{path}: looks like an Excel workbook or a zip archive, not a CSV; save the sheet as CSV (UTF-8)")
    if data[:2] == b"\x1f\x8b":
        raise InputError(f"{path}: is gzip-compressed; decompress it first")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:65536]:
        odd = data[1:200:2]
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or odd.count(0) > 0.4 * len(odd):
            raise InputError(f"{path}: is UTF-16 encoded; re-save it as CSV UTF-8")
        raise InputError(f"{path}: contains binary data (NUL bytes), not a CSV; check that this is the exported table")
    try:
        text = data.decode(_codec(encoding))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}: line {line} is not valid {encoding} (byte 0x{data[exc.start]:02x}); "
            f"re-save the file as UTF-8, or declare its encoding (encoding = \"latin-1\" in the data config)"
        ) from exc
    except LookupError as exc:
        raise InputError(f"{path}: unknown encoding {encoding!r}") from exc
    del data
    frame = _read_csv_text(path, text)
    if _CONTROL.search(text):
        _raise_control(path, frame, text)
    return frame


def _read_parquet(path: Path, data: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}); re-export it") from exc
    names = [str(c).strip() for c in frame.columns]
    _check_header(path, names)
    frame.columns = names
    return frame.reset_index(drop=True)


def _check_header(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    dups = [n for n in names if n in seen or seen.add(n)]
    if dups:
        raise InputError(f"{path}: duplicate column name(s) {', '.join(repr(d) for d in dups[:5])}; give every column a unique header")


def _read_csv_text(path: Path, text: str) -> pd.DataFrame:
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    sep = max((",", ";", "\t", "|"), key=first_line.count)
    try:
        header = next(csv.reader(io.StringIO(first_line), delimiter=sep))
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"{path}: the header row cannot be read as CSV; check the file") from exc
    names = [h.strip() or f"unnamed_{i + 1}" for i, h in enumerate(header)]
    _check_header(path, names)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_values=[""], skip_blank_lines=True, engine="c", index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: no columns found; export the table as CSV with a header row") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: malformed CSV ({exc}); check quoting and that every row has the header's number of fields") from exc
    if len(frame.columns) != len(names):
        raise InputError(f"{path}: the header has {len(names)} fields but rows were read with {len(frame.columns)}; check quoting in the header")
    frame.columns = names
    return frame


def _raise_control(path: Path, frame: pd.DataFrame, text: str) -> None:
    for col in frame.columns:
        if _CONTROL.search(col):
            raise InputError(f"{path}: a column name contains control characters; fix the header")
        series = frame[col]
        if series.dtype == object:
            hits = np.flatnonzero(series.str.contains(_CONTROL, na=False).to_numpy())
            if len(hits):
                raise InputError(f"{path}: column '{col}': control characters at {_rows(hits)}; "
                                 "remove them (or re-export the file), they usually mean a corrupt export")
    match = _CONTROL.search(text)
    line = text.count("\n", 0, match.start()) + 1
    raise InputError(f"{path}: control characters at line {line}; remove them or re-export the file")


# --------------------------------------------------------------------------- value parsing

def _as_text(series: pd.Series) -> pd.Series:
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
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers


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


def _type_feature(series: pd.Series, name: str) -> _Typed:
    """Type one candidate feature column. Works on unique values, so 1M rows cost little."""
    if ptypes.is_bool_dtype(series.dtype):
        return _Typed(series.astype("float64"), "boolean")
    if ptypes.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        values[~np.isfinite(values)] = np.nan
        return _Typed(values, "numeric")
    if ptypes.is_datetime64_any_dtype(series.dtype):
        stamps = pd.to_datetime(series, utc=True).dt.tz_convert(None)
        return _Typed((stamps.max() - stamps).dt.total_seconds() / 86400.0, "date")
    if ptypes.is_timedelta64_dtype(series.dtype):
        return _Typed(series.dt.total_seconds() / 86400.0, "numeric")

    text = _as_text(series)
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

    numbers = parse_numbers(uniques)
    parsed = ~np.isnan(numbers)
    share = counts[parsed].sum() / n_present
    if share >= NUMERIC_SHARE:
        out = np.full(len(codes), np.nan)
        out[present] = numbers[codes[present]]
        note = None
        if not parsed.all():
            bad = np.flatnonzero(present & ~parsed[np.maximum(codes, 0)])
            note = (f"column '{name}': {len(bad)} value(s) are not numbers and were treated as blank "
                    f"({_rows(bad)})")
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
                note = f"column '{name}': {len(bad)} value(s) are not dates and were treated as blank ({_rows(bad)})"
            return _Typed(pd.Series(out, index=series.index), "date", note)

    if len(uniques) == 1 and n_present == len(codes):
        return _Typed(text, "excluded", f"column '{name}' has a single value in every row: excluded")
    if n_present >= 50 and len(uniques) >= 0.9 * n_present:
        return _Typed(text, "excluded", f"column '{name}' has a distinct value in nearly every row "
                      "(free text or an identifier?): excluded from features")
    note = None
    if share >= 0.5:
        bad = np.flatnonzero(present & ~parsed[np.maximum(codes, 0)])
        note = (f"column '{name}': {share:.0%} of values are numbers but {len(bad)} are not ({_rows(bad)}): "
                "kept as a category; fix those cells if the column is numeric")
    return _Typed(text.astype("string"), "categorical", note)


# --------------------------------------------------------------------------- customers

@dataclass
class CustomerTable:
    """A typed customers file.

    frame: one row per customer. "customer_id" (string), "churned" (Int8: 1, 0, <NA> = unknown),
        then the file's other columns: features as float64 (numbers, 0/1 booleans, days before
        the newest date) or string (categories); identifier and excluded columns as strings;
        "consent_given" as bool.
    roles: column -> "id" | "label" | "identifier" | "feature" | "excluded" | "consent".
    warnings: one line per typing decision a person should know about (additive field).
    kinds: feature column -> "numeric" | "boolean" | "date" | "categorical" (additive field).
    """

    frame: pd.DataFrame
    roles: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)

    def columns_with_role(self, role: str) -> list[str]:
        return [c for c, r in self.roles.items() if r == role]


def _normalise_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _resolve(columns: Sequence[str], wanted: str) -> str | None:
    """The column called `wanted`: exact name first, then the one equal ignoring case and spacing."""
    if wanted in columns:
        return wanted
    matches = [c for c in columns if _normalise_name(c) == _normalise_name(wanted)]
    return matches[0] if len(matches) == 1 else None


def _ids(series: pd.Series, source: str, column: str) -> pd.Series:
    ids = _as_text(series)
    blank = np.flatnonzero(ids.isna().to_numpy())
    if len(blank):
        raise InputError(f"{source}: column '{column}' (id) is blank at {_rows(blank)}; every row needs an id")
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
    text = _as_text(series)
    lowered = text.str.lower()
    out = pd.Series(pd.array([pd.NA] * len(text), dtype="Int8"), index=series.index)
    yes, no = TRUE_TOKENS | {"1", "1.0"}, FALSE_TOKENS | {"0", "0.0"}
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
    if positive_label and other.any():
        distinct = pd.unique(lowered[other])
        if len(distinct) == 1:  # e.g. positive_label = "left" and the other value is "stayed"
            out[other.to_numpy()] = 0
            warnings.append(f"column '{column}' (label): '{positive_label}' is churn, '{text[other].iloc[0]}' is read as not churned")
            other = pd.Series(False, index=series.index)
    bad = np.flatnonzero(other.to_numpy())
    if len(bad):
        values = ", ".join(repr(str(v)[:20]) for v in pd.unique(text.iloc[bad])[:3])
        raise InputError(
            f"{source}: column '{column}' (label) has unexpected value(s) {values} at {_rows(bad)}; "
            "use 0/1, true/false, yes/no (any case) or blank for unknown, or set positive_label in the data config"
        )
    return out


def _consent_flags(series: pd.Series, source: str, column: str) -> pd.Series:
    """bool; blank means no consent (fails closed)."""
    if ptypes.is_bool_dtype(series.dtype):
        return series.fillna(False).astype(bool)
    lowered = _as_text(series).str.lower()
    yes = lowered.isin(TRUE_TOKENS | {"1", "1.0"})
    no = lowered.isin(FALSE_TOKENS | {"0", "0.0"}) | lowered.isna()
    bad = np.flatnonzero((~yes & ~no).to_numpy())
    if len(bad):
        raise InputError(f"{source}: column '{column}' (consent) has values that are not true/false at {_rows(bad)}; "
                         "use true/false, yes/no or 1/0 (blank = no consent)")
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
    _check_header(Path(source), columns)
    df = df.set_axis(columns, axis=1).reset_index(drop=True)
    warnings: list[str] = []
    roles: dict[str, str] = {}
    out: dict[str, pd.Series] = {}

    id_col = _resolve(columns, cfg.id_column)
    if id_col is None:
        raise InputError(f"{source}: id column '{cfg.id_column}' not found; columns found: {_columns_found(columns)}; "
                         "set id_column in the data config (--data-config)")
    label_col = _resolve(columns, cfg.label_column)
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

    declared_identifiers = set()
    for wanted in cfg.identifier_columns:
        actual = _resolve(columns, wanted)
        if actual is None:
            if wanted not in DataConfig.identifier_columns:
                warnings.append(f"identifier column '{wanted}' from the data config is not in the file")
        elif actual not in taken:
            declared_identifiers.add(actual)
    excluded = set()
    for wanted in cfg.exclude_columns:
        actual = _resolve(columns, wanted)
        if actual is None:
            raise InputError(f"{source}: exclude_columns names '{wanted}', which is not a column; "
                             f"columns found: {_columns_found(columns)}; fix the data config")
        excluded.add(actual)
    consent_col = _resolve(columns, "consent_given")

    kinds: dict[str, str] = {}
    for col in columns:
        if col in taken:
            continue
        if col in declared_identifiers:
            out[col], roles[col] = _as_text(df[col]).astype("string"), "identifier"
        elif col in excluded:
            out[col], roles[col] = _as_text(df[col]).astype("string"), "excluded"
        elif col == consent_col:
            out[col], roles[col] = _consent_flags(df[col], source, col), "consent"
        elif _normalise_name(col) in IDENTIFIER_NAMES:
            out[col], roles[col] = _as_text(df[col]).astype("string"), "identifier"
            warnings.append(f"column '{col}' is named like a personal identifier: treated as an identifier, never a feature")
        else:
            typed = _type_feature(df[col], col)
            if typed.kind in ("categorical", "excluded") and _looks_like_emails(typed.values.astype(object)):
                out[col], roles[col] = typed.values.astype("string"), "identifier"
                warnings.append(f"column '{col}' holds e-mail addresses: treated as an identifier, never a feature")
                continue
            out[col] = typed.values
            roles[col] = "excluded" if typed.kind == "excluded" else "feature"
            if typed.kind != "excluded":
                kinds[col] = typed.kind
            if typed.note:
                warnings.append(typed.note)
    frame = pd.concat(out, axis=1)
    return CustomerTable(frame=frame, roles=roles, warnings=warnings, kinds=kinds)


def read_customers(path: str | Path, cfg: DataConfig | None = None) -> CustomerTable:
    """`read_table` then `type_customers`, with the encoding declared in the data config."""
    cfg = cfg or DataConfig()
    return type_customers(read_table(path, encoding=cfg.encoding), cfg, str(path))


# --------------------------------------------------------------------------- feedback, consent

def _require(df: pd.DataFrame, source: str, required: Sequence[str], optional: Sequence[str],
             aliases: dict[str, str] | None = None) -> dict[str, str | None]:
    """canonical name -> actual column (None for absent optional ones)."""
    columns = [str(c) for c in df.columns]
    found: dict[str, str | None] = {}
    for name in (*required, *optional):
        actual = _resolve(columns, name)
        if actual is None and aliases and name in aliases:
            actual = _resolve(columns, aliases[name])
        if actual is None and name in required:
            raise InputError(f"{source}: required column '{name}' not found; columns found: {_columns_found(columns)}")
        found[name] = actual
    return found


def _timestamps(series: pd.Series, source: str, column: str) -> pd.Series:
    """datetime64[ns] (naive UTC), NaT for blanks; unparseable values raise InputError."""
    if ptypes.is_datetime64_any_dtype(series.dtype):
        stamps = pd.to_datetime(series, utc=True)
        return stamps.dt.tz_convert(None).astype("datetime64[ns]")
    text = _as_text(series)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    stamps = parse_dates(np.asarray(uniques, dtype=object)) if len(uniques) else pd.DatetimeIndex([])
    ok = ~np.isnat(stamps.to_numpy())
    bad = np.flatnonzero((codes >= 0) & ~ok[np.maximum(codes, 0)]) if len(uniques) else np.array([], int)
    if len(bad):
        raise InputError(f"{source}: column '{column}' has values that are not dates at {_rows(bad)}; "
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
    cols = _require(df, source, ("customer_id", "text"), ("feedback_id", "created_at", "channel"),
                    aliases={"customer_id": id_column})
    warnings: list[str] = []
    ids = _as_text(df[cols["customer_id"]])
    blank = np.flatnonzero(ids.isna().to_numpy())
    if len(blank):
        raise InputError(f"{source}: column '{cols['customer_id']}' is blank at {_rows(blank)}; every feedback row needs a customer id")
    text = df[cols["text"]]
    text = text.where(text.isna(), text.astype(str))
    keep = text.notna() & (text.str.strip().str.len() > 0)
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} feedback row(s) with blank text were dropped ({_rows(np.flatnonzero(~keep.to_numpy()))})")
    lengths = text.str.len().fillna(0)
    truncated = (lengths > MAX_TEXT_CHARS) & keep
    if on_long_text not in ("truncate", "reject"):
        raise ValueError("on_long_text must be 'truncate' or 'reject'")
    if truncated.any() and on_long_text == "reject":
        raise InputError(f"{source}: column '{cols['text']}' has texts longer than {MAX_TEXT_CHARS} characters at "
                         f"{_rows(np.flatnonzero(truncated.to_numpy()))}; shorten or split them")
    if truncated.any():
        text = text.where(~truncated, text.str.slice(0, MAX_TEXT_CHARS))
        warnings.append(f"{int(truncated.sum())} feedback text(s) longer than {MAX_TEXT_CHARS} characters were truncated "
                        f"({_rows(np.flatnonzero(truncated.to_numpy()))})")
    created = (_timestamps(df[cols["created_at"]], source, cols["created_at"]) if cols["created_at"]
               else pd.Series(np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")))
    channel = (_as_text(df[cols["channel"]]).astype("string") if cols["channel"]
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
        given = _as_text(df[cols["feedback_id"]])
        dup = np.flatnonzero((given.duplicated() & given.notna()).to_numpy())
        if len(dup):
            raise InputError(f"{source}: column '{cols['feedback_id']}' has duplicate ids at {_rows(dup)}; "
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


def read_consent(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Consent register: customer_id, purpose, granted (bool), recorded_at (NaT allowed), source.

    Purposes are normalised (case, "-"/space -> "_") and must be one of consent.PURPOSES.
    `granted` must be an explicit true/false value: a blank is an error, not a guess. A missing
    `source` column is filled with the file name.
    """
    source = str(path)
    df = read_table(path, encoding=encoding)
    cols = _require(df, source, ("customer_id", "purpose", "granted"), ("recorded_at", "source"))
    ids = _as_text(df[cols["customer_id"]])
    blank = np.flatnonzero(ids.isna().to_numpy())
    if len(blank):
        raise InputError(f"{source}: column '{cols['customer_id']}' is blank at {_rows(blank)}; every consent record needs a customer id")
    purpose = _as_text(df[cols["purpose"]]).str.lower().str.replace(r"[\s-]+", "_", regex=True)
    bad = np.flatnonzero((~purpose.isin(PURPOSES)).to_numpy())
    if len(bad):
        values = ", ".join(repr(str(v)[:30]) for v in pd.unique(purpose.iloc[bad])[:3])
        raise InputError(f"{source}: column '{cols['purpose']}' has unknown purpose(s) {values} at {_rows(bad)}; "
                         f"use one of {', '.join(PURPOSES)}")
    raw = df[cols["granted"]]
    if ptypes.is_bool_dtype(raw.dtype) and not raw.isna().any():
        granted = raw.astype(bool)
    else:
        lowered = _as_text(raw).str.lower()
        yes = lowered.isin(TRUE_TOKENS | {"1", "1.0"})
        no = lowered.isin(FALSE_TOKENS | {"0", "0.0"})
        bad = np.flatnonzero((~yes & ~no).to_numpy())
        if len(bad):
            raise InputError(f"{source}: column '{cols['granted']}' must be true/false, yes/no or 1/0 at {_rows(bad)}; "
                             "a blank is not accepted (record the decision explicitly)")
        granted = yes
    recorded = (_timestamps(df[cols["recorded_at"]], source, cols["recorded_at"]) if cols["recorded_at"]
                else pd.Series(np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")))
    src = _as_text(df[cols["source"]]).fillna(Path(path).name) if cols["source"] else pd.Series([Path(path).name] * len(df))
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
