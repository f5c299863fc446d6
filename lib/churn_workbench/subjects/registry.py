"""Where customer data lives: the one list erasure works from, and the record of the files the
workbench writes.

* **Tables**: `TABLES` (rows keyed by the customer id; consent by the withdrawal rule), plus what
  the erasure plan finds through them (LLM requests, cached answers) -- holdings.py.
* **Files the workbench writes** that can hold a customer id: `FILE_KINDS`. Whatever writes such
  a file records it here (`record`, in the database, with the digest of what it wrote), so
  erasure finds it by its record, never by searching content:
    - `export`: one subject's access export (JSON and Markdown) -- deleted whole;
    - `outcomes`: one row per customer (`--simulate-outcomes`) -- the customer's rows are
      removed and the file rewritten (it is the other customers' outcomes too).
* **The folders those files are written to** (`folders`): the exports and the outcomes folder.
  A file there the workbench did not write (a copy, a re-encoded or compressed version, an
  unrelated file) cannot be vouched for by searching its content -- an encoding the search does
  not know hides a name from it, and a huge file makes the search endless. Such a file is never
  read: `unvouched` lists it and erasure names it ("not written by the workbench, not searched").
* **The dashboard snapshot** is republished without the person (erase.py); **audit artefacts**
  (executed notebooks, manifests, the audit log, model cards) hold no customer id by design, and
  the audit log refers to a person only by a pseudonymous ref whose secret erasure shreds.

A recorded path is kept relative to the workspace root (Workspace.relative), so a moved
workspace still finds its files. The subject of an export is kept as a keyed hash, never the id.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ..audit import file_sha256, sha256_hex
from ..boundary import paths
from ..boundary.customer_ids import canonical_series
from ..pseudonyms import SubjectRefs
from ..workspace import Workspace
from .holdings import BY_CUSTOMER_ID

TABLES = (*BY_CUSTOMER_ID, "consent")
# kind -> what erasure does with a recorded file of that kind
FILE_KINDS = {"export": "deleted whole (one subject's access export)",
              "outcomes": "their rows removed, the file rewritten (one row per customer)"}
_SUBJECT_DOMAIN = "workspace-file"


def folders(ws: Workspace) -> dict[str, Path]:
    """The workspace folders the workbench writes customer-data files into, by file kind."""
    return {"export": ws.exports_dir, "outcomes": ws.outcomes_dir}


def subject_hash(con: duckdb.DuckDBPyConnection, refs: SubjectRefs, customer_id: str) -> str:
    """The keyed hash a file's subject is recorded under (not the id: the record is no trace)."""
    return con.execute("SELECT sha256(? || CAST(? AS VARCHAR))",
                       [refs.keyed_prefix(_SUBJECT_DOMAIN), str(customer_id)]).fetchone()[0]


def record(con: duckdb.DuckDBPyConnection, ws: Workspace, path: Path, kind: str, content: bytes,
           subject: str | None = None) -> None:
    """Record a file the workbench is about to write (or has written) with `content`. Call it
    before the file is written, in the transaction of the write's audit event: a record without a
    file is harmless (erasure skips it), a file without a record would be unvouched."""
    if kind not in FILE_KINDS:
        raise ValueError(f"unknown file kind {kind!r}")
    rel = ws.relative(path)
    con.execute("DELETE FROM workspace_files WHERE path = ?", [rel])
    con.execute("INSERT INTO workspace_files VALUES (?, ?, ?, ?, ?, now())",
                [rel, kind, subject, sha256_hex(content), len(content)])


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    recorded: str
    kind: str
    sha256: str
    size: int

    def unchanged(self) -> bool:
        """The file is what the workbench wrote (size first: a changed size needs no reading)."""
        try:
            if self.path.is_symlink() or not self.path.is_file() or self.path.stat().st_size != self.size:
                return False
            return file_sha256(self.path) == self.sha256
        except OSError:
            return False


def _rows(con, ws: Workspace, where: str = "TRUE", params: list | None = None) -> list[WrittenFile]:
    return [WrittenFile(ws.resolve(p), p, k, h, int(n or 0)) for p, k, h, n in con.execute(
        f"SELECT path, kind, sha256, size FROM workspace_files WHERE {where} ORDER BY path", params or []).fetchall()]


def of_subject(con, ws: Workspace, refs: SubjectRefs, customer_id: str) -> list[WrittenFile]:
    """The recorded files that are the customer's alone (exports)."""
    return _rows(con, ws, "subject_hash = ?", [subject_hash(con, refs, customer_id)])


def shared(con, ws: Workspace) -> list[WrittenFile]:
    """The recorded files with one row per customer (outcomes)."""
    return _rows(con, ws, "subject_hash IS NULL")


def unvouched(con, ws: Workspace) -> list[Path]:
    """Every entry below the folders of `folders` the workbench did not record, or whose content
    is no longer what it wrote: never searched, only listed (a link is listed, not followed)."""
    known = {f.path for f in _rows(con, ws) if f.unchanged()}
    found: list[Path] = []
    for base in folders(ws).values():
        if not base.is_dir() or base.is_symlink():
            continue
        for root, dirs, files in os.walk(base, followlinks=False):
            dirs.sort()
            found += [Path(root, d) for d in dirs if Path(root, d).is_symlink()]
            found += [Path(root, name) for name in sorted(files) if Path(root, name) not in known]
    return found


def rows_of(path: Path, customer_id: str) -> tuple[pd.DataFrame, int]:
    """A recorded one-row-per-customer CSV, and how many of its rows are the customer's
    (customer_id in canonical form)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    ids = canonical_series(frame["customer_id"]) if "customer_id" in frame else pd.Series([], dtype=object)
    return frame, int((ids == customer_id).sum())


def erase_files(con, ws: Workspace, refs: SubjectRefs, customer_id: str) -> dict:
    """Remove the customer from every recorded file: their exports deleted (file, then record),
    their rows cut from the shared files (rewritten, record updated). Each step is complete on
    its own, so an interrupted erasure is completed by running it again."""
    removed = rewritten = 0
    for f in of_subject(con, ws, refs, customer_id):
        existed = f.path.exists() or f.path.is_symlink()
        f.path.unlink(missing_ok=True)
        if f.path.exists() or f.path.is_symlink():
            continue  # the record stays, and the proof names the file
        con.execute("DELETE FROM workspace_files WHERE path = ?", [f.recorded])
        removed += existed
    for f in shared(con, ws):
        if not f.unchanged():
            continue  # not what the workbench wrote: listed by `unvouched`, never parsed
        frame, n = rows_of(f.path, customer_id)
        if not n:
            continue
        ids = canonical_series(frame["customer_id"])
        content = frame.loc[(ids != customer_id).to_numpy()].to_csv(index=False).encode()
        record(con, ws, f.path, f.kind, content)
        paths.write_private(f.path, content.decode(), force=True)
        rewritten += 1
    return {"files_removed": removed, "files_rewritten": rewritten}


def remaining(con, ws: Workspace, refs: SubjectRefs, customer_id: str) -> list[str]:
    """What the recorded files still hold of the customer (one line each)."""
    left = [f"file {f.path} written for them" for f in of_subject(con, ws, refs, customer_id) if f.path.exists()]
    for f in shared(con, ws):
        if f.unchanged():
            try:
                if rows_of(f.path, customer_id)[1]:
                    left.append(f"their row(s) in file {f.path}")
            except (OSError, ValueError, pd.errors.ParserError):
                left.append(f"file {f.path} (written by the workbench) could not be read back")
    return left
