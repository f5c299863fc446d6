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
  decimal comma ("3,5", "1.234,50"). Values that do not parse become blank, with a warning. A
  number no 64-bit float can hold (beyond ±1.8e308 -- `1e400`, a thousand digits -- or written
  as infinite, `inf`) is refused naming the file, column and rows: it is a value the file meant,
  and blanked it would be lost unseen. The missing-value tokens above (NaN included) stay missing.
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

from ..errors import InputError
from .consent import consent_from_column, read_consent
from .customers import CustomerTable, read_customers, type_customers
from .dataconfig import DataConfig, load_data_config
from .feedback import MAX_TEXT_CHARS, read_feedback
from .files import read_table
from .values import parse_dates, parse_numbers

__all__ = ["InputError", "DataConfig", "load_data_config", "read_table", "CustomerTable", "type_customers",
           "read_customers", "read_feedback", "read_consent", "consent_from_column", "parse_numbers",
           "parse_dates", "MAX_TEXT_CHARS"]
