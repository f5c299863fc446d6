"""Reading CSV and Parquet files into untyped frames: sniffing, encodings, malformed files."""
from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .columns import describe_rows

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

def _codec(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig") else encoding


def read_table(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame.

    Parquet is recognised by its magic bytes (any suffix). A gzip file, or a zip archive holding
    one CSV or Parquet file, is read as the file it holds (exports are often compressed). CSV
    cells come back as strings, with
    empty cells as NaN; typing is `type_customers`' job. A file with a header and no data rows
    is returned empty (no feedback is legitimate); 0-byte and whitespace-only files are errors.

    Raises InputError for a missing or empty file, binary content, an encoding other than the
    declared one, control characters, duplicate column names, nested Parquet columns and
    malformed CSV rows.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file; pass the CSV or Parquet file itself")
    if not path.is_file():  # a pipe or device (/dev/stdin) could not be read twice
        raise InputError(f"{path}: is not a regular file (a pipe, device or socket); pass the CSV or Parquet file itself")
    data = _decompressed(path, path.read_bytes())
    if not data.strip():
        raise InputError(f"{path}: file is empty; export the table as CSV (UTF-8) with a header row")
    if data[:4] == b"PAR1" or path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, data)
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise InputError(f"{path}: looks like an Excel workbook, not a CSV; save the sheet as CSV (UTF-8)")
    kind = _known_binary(data)
    if kind:
        raise InputError(f"{path}: is {kind}, not a CSV or Parquet file; pass the exported table")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:65536]:
        if _utf16_text(data):
            raise InputError(f"{path}: is UTF-16 encoded; re-save it as CSV UTF-8")
        raise InputError(f"{path}: contains binary data (NUL bytes), not a CSV or Parquet file; check that this is "
                         "the exported table")
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


# Binary files a table is mistaken for, by their signature: (offset, bytes) -> what the file is.
_SIGNATURES = {(8, b"DUCK"): "a DuckDB database", (0, b"SQLite format 3\x00"): "an SQLite database",
               (0, b"%PDF"): "a PDF document", (0, b"\x7fELF"): "a program (ELF)"}


def _known_binary(data: bytes) -> str:
    return next((kind for (at, magic), kind in _SIGNATURES.items() if data[at:at + len(magic)] == magic), "")


def _utf16_text(data: bytes) -> bool:
    """Whether `data` reads as UTF-16 text (a byte-order mark, or every other byte NUL) whose
    start is printable: binary data with many NUL bytes is not UTF-16 text."""
    head = data[:4000]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16"
    else:
        odd, even = head[1::2], head[0::2]
        if odd.count(0) > 0.4 * len(odd):
            codec = "utf-16-le"
        elif even.count(0) > 0.4 * len(even):
            codec = "utf-16-be"
        else:
            return False
    text = head[:len(head) // 2 * 2].decode(codec, errors="replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * len(text)


# A compressed export is read whole into memory: refuse one that would expand beyond this.
MAX_DECOMPRESSED_BYTES = 4 << 30


def _decompressed(path: Path, data: bytes) -> bytes:
    """The bytes of the table inside a gzip file or a one-file zip archive; other data unchanged."""
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                out = fh.read(MAX_DECOMPRESSED_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: a damaged gzip file ({exc}); compress the export again") from None
        return _within_limit(path, out)
    if data[:4] != b"PK\x03\x04":
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            if any(i.filename.startswith(("xl/", "word/", "ppt/")) for i in names) or \
                    any(i.filename == "[Content_Types].xml" for i in names):
                raise InputError(f"{path}: looks like an Excel workbook, not a CSV; save the sheet as CSV (UTF-8)")
            if len(names) != 1:
                listed = ", ".join(repr(i.filename[:40]) for i in names[:5]) or "nothing"
                raise InputError(f"{path}: a zip archive must hold exactly one CSV or Parquet file; it holds {listed}")
            if names[0].file_size > MAX_DECOMPRESSED_BYTES:
                _within_limit(path, b"", names[0].file_size)
            return archive.read(names[0])
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"{path}: an unreadable zip archive or Excel workbook ({exc}); save the table as CSV (UTF-8), "
                         "zipped without a password if you like") from None


def _within_limit(path: Path, data: bytes, size: int | None = None) -> bytes:
    if (size if size is not None else len(data)) > MAX_DECOMPRESSED_BYTES:
        raise InputError(f"{path}: expands to more than {MAX_DECOMPRESSED_BYTES >> 30} GB; split the export")
    return data


def _read_parquet(path: Path, data: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq
    try:
        schema = pq.read_schema(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}); re-export it") from exc
    for name, kind in zip(schema.names, schema.types):
        # A cell holding a list, record or map is not a value a column role can type.
        if pa_nested(kind):
            raise InputError(f"{path}: column '{name}' holds nested values ({kind}); flatten it into plain columns "
                             "or drop it before export")
        if _no_plain_kind(kind):
            raise InputError(f"{path}: column '{name}' holds {'times of day' if _no_plain_kind(kind) == 'time' else 'durations'} "
                             f"({kind}); export it as text or as a number (e.g. seconds)")
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}); re-export it") from exc
    frame = _plain_kinds(path, table).to_pandas()
    names = [str(c).strip() for c in frame.columns]
    check_header(path, names)
    frame.columns = names
    return frame.reset_index(drop=True)


def _plain_kinds(path: Path, table):
    """Every column as one of the kinds a CSV gives (text, number, timestamp, true/false), so a
    Parquet file is read as its CSV export would be: bytes as UTF-8 text (a customer id stored as
    binary would otherwise become the text "b'C1'" and match nobody, not even for an erasure),
    decimals as floats, timestamps with a time zone as UTC. (A kind with no such reading, a time of
    day or a duration, was refused from the schema, before any data was read.)"""
    import pyarrow as pa
    import pyarrow.types as pat

    columns = []
    for field, column in zip(table.schema, table.columns):
        kind = field.type
        if pat.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pat.is_binary(kind) or pat.is_large_binary(kind) or pat.is_fixed_size_binary(kind):
            column = _utf8(path, field.name, column)
        elif pat.is_decimal(kind):
            column = column.cast(pa.float64())
        elif pat.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit))  # the stored instants are UTC
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _no_plain_kind(kind) -> str:
    """'time' or 'duration' for a Parquet kind no CSV cell reads as (see _plain_kinds), else ''."""
    import pyarrow.types as pat

    if pat.is_dictionary(kind):
        kind = kind.value_type
    return "time" if pat.is_time(kind) else "duration" if pat.is_duration(kind) or pat.is_interval(kind) else ""


def _utf8(path: Path, name: str, column):
    """A binary column as text; a value that is not UTF-8 is refused naming its rows. Decoded
    here, not by an Arrow cast: a cast that fails leaves Arrow's thread pool in a state that can
    abort the process at exit, which would turn a one-line refusal into a crash."""
    import pyarrow as pa

    values, bad = [], []
    for i, value in enumerate(column.to_pylist()):
        try:
            values.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(i)
    if bad:
        raise InputError(f"{path}: column '{name}' holds bytes that are not UTF-8 text at {describe_rows(bad)}; "
                         "export it as text")
    return pa.array(values, pa.string())


def pa_nested(kind) -> bool:
    import pyarrow.types as pat
    return pat.is_nested(kind) or (pat.is_dictionary(kind) and pat.is_nested(kind.value_type))


def check_header(path: Path, names: list[str]) -> None:
    # DuckDB column names are case-insensitive: "Age" and "age" would be silently renamed on
    # storage, and a data config naming one of them would then miss it.
    seen: dict[str, str] = {}
    dups = []
    for name in names:
        key = name.casefold()
        if key in seen:
            dups.append(repr(name) if seen[key] == name else f"{seen[key]!r} and {name!r}")
        seen.setdefault(key, name)
    if dups:
        raise InputError(f"{path}: duplicate column name(s) {', '.join(dups[:5])} (names must differ in more than "
                         "letter case); give every column a unique header")
    if any("\x00" in name for name in names):
        raise InputError(f"{path}: a column name contains a NUL character; fix the header")


def _read_csv_text(path: Path, text: str) -> pd.DataFrame:
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    sep = max((",", ";", "\t", "|"), key=first_line.count)
    try:
        header = next(csv.reader(io.StringIO(first_line), delimiter=sep))
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"{path}: the header row cannot be read as CSV; check the file") from exc
    names = [h.strip() or f"unnamed_{i + 1}" for i, h in enumerate(header)]
    check_header(path, names)
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
                raise InputError(f"{path}: column '{col}': control characters at {describe_rows(hits)}; "
                                 "remove them (or re-export the file), they usually mean a corrupt export")
    match = _CONTROL.search(text)
    line = text.count("\n", 0, match.start()) + 1
    raise InputError(f"{path}: control characters at line {line}; remove them or re-export the file")
