"""Pseudonymous subject refs: how the audit log and the dashboard name a customer without their id.

A ref is a hash of the customer id keyed with a random secret of that one customer. The
secrets live in a small key store *outside* the database (a Parquet file beside the subject key
file, location `WORKBENCH_SUBJECT_KEYSTORE`). Erasure destroys the customer's secret
(`forget`): the refs already written to the hash-chained audit log stay where they are, so the
chain still verifies, but nobody can link them to the person any more, not even with the
database, the key file and the customer's id in hand. A later `ref` of the same id draws a new
secret, so it starts a new, unlinked history.

The store is found by a lookup index, sha256(subject key + id), so the key store alone does not
reveal which ids it holds. Everything is computed in batches in an in-memory DuckDB (one SQL
pass over all ids, one file rewrite when new subjects appear): consent checks call `refs` for
up to a million customers.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa

from . import db

SECRET_BYTES = 16
STORE_NAME = ".subject_keys.parquet"


def default_store(key_file: str | Path) -> Path:
    """Where the per-subject secrets live unless WORKBENCH_SUBJECT_KEYSTORE says otherwise."""
    return Path(key_file).with_name(STORE_NAME)


class SubjectRefs:
    """Pseudonymous refs for customers: `ref(id)` / `refs(ids)`, and `forget(ids)` to shred them.

    `key_file` (or `key`, from WORKBENCH_SUBJECT_KEY) keys the store's lookup index; `store` is
    the key-store file (default: beside `key_file`).
    """

    def __init__(self, key_file: str | Path, key: str | None = None, store: str | Path | None = None):
        self.store = Path(store) if store else default_store(key_file)
        if key:
            self._key = key
        else:
            key_file = Path(key_file)
            if not key_file.exists():
                key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
            self._key = key_file.read_text().strip()

    # ------------------------------------------------------------------ refs
    def ref(self, customer_id) -> str:
        return self.refs([customer_id])[0]

    def refs(self, customer_ids: Iterable) -> list[str]:
        """One ref per id, in order. Subjects without a secret get one (in one store rewrite)."""
        ids = [str(c) for c in customer_ids]
        if not ids:
            return []
        with self._query(ids) as con:
            missing = con.execute("SELECT count(*) FROM q LEFT JOIN store k USING (idx) WHERE k.secret IS NULL"
                                  ).fetchone()[0]
            if missing:
                try:
                    self._add_missing(con)
                except OSError:
                    # A read-only mount (e.g. the dashboard's): subjects without a secret have no
                    # events, so a throwaway secret gives a ref that correctly matches nothing.
                    self._add_missing(con, persist=False)
            rows = con.execute(
                "SELECT 'subj_' || substr(sha256(hex(k.secret) || chr(31) || q.id), 1, 20) "
                "FROM q JOIN store k USING (idx) ORDER BY q.pos").fetchnumpy()
        return rows[next(iter(rows))].tolist()

    def known(self, customer_ids: Iterable) -> list[bool]:
        """Whether each id has a secret now (never creates one)."""
        ids = [str(c) for c in customer_ids]
        if not ids:
            return []
        with self._query(ids) as con:
            rows = con.execute("SELECT k.secret IS NOT NULL FROM q LEFT JOIN store k USING (idx) ORDER BY q.pos"
                               ).fetchall()
        return [bool(r[0]) for r in rows]

    def keyed_prefix(self, domain: str) -> str:
        """A key-derived prefix for other keyed hashes computed in SQL (e.g. tombstones):
        sha256(prefix || value). The domain keeps them apart from the store's lookup index."""
        return self._key + chr(31) + domain + chr(31)

    # ------------------------------------------------------------------ erasure
    def forget(self, customer_ids: Iterable) -> int:
        """Destroy the secrets of these ids: the store is rewritten without them and the old file
        replaced, so their refs can no longer be recomputed. Returns how many secrets were destroyed."""
        ids = [str(c) for c in customer_ids]
        if not ids or not self.store.exists():
            return 0
        with self._locked(), self._query(ids) as con:
            self._load_store(con)
            before = con.execute("SELECT count(*) FROM store").fetchone()[0]
            con.execute("CREATE OR REPLACE TEMP TABLE kept AS SELECT * FROM store WHERE idx NOT IN (SELECT idx FROM q)")
            removed = before - con.execute("SELECT count(*) FROM kept").fetchone()[0]
            if removed:
                self._write(con, "kept")
        return int(removed)

    # ------------------------------------------------------------------ internals
    @contextlib.contextmanager
    def _query(self, ids: list[str]) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB with `q(pos, id, idx)` for the ids and `store(idx, secret)`."""
        con = db.in_memory()
        try:
            con.register("q_ids", pa.table({"pos": pa.array(range(len(ids)), pa.int64()), "id": pa.array(ids, pa.string())}))
            con.execute("CREATE TEMP TABLE q AS SELECT pos, id, unhex(substr(sha256(? || chr(31) || id), 1, 32)) AS idx "
                        "FROM q_ids", [self._key])
            con.unregister("q_ids")
            self._load_store(con)
            yield con
        finally:
            con.close()

    def _load_store(self, con) -> None:
        if self.store.exists():
            con.execute(f"CREATE OR REPLACE TEMP TABLE store AS SELECT idx, secret FROM read_parquet({db.literal(self.store)})")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE store (idx BLOB, secret BLOB)")

    def _add_missing(self, con, persist: bool = True) -> None:
        # Under the lock, re-read the store: another process may have added some of these meanwhile.
        with self._locked() if persist else contextlib.nullcontext():
            if persist:
                self._load_store(con)
            new = con.execute("SELECT DISTINCT q.idx FROM q LEFT JOIN store k USING (idx) WHERE k.secret IS NULL "
                              "ORDER BY 1").arrow()
            new = new.read_all() if hasattr(new, "read_all") else new
            n = new.num_rows
            if not n:
                return
            # One call to the OS's CSPRNG for all new subjects, sliced without a Python loop.
            raw = pa.py_buffer(secrets.token_bytes(SECRET_BYTES * n))
            fresh = pa.table({"idx": new.column(0).combine_chunks(),
                              "secret": pa.FixedSizeBinaryArray.from_buffers(pa.binary(SECRET_BYTES), n, [None, raw])})
            con.register("fresh", fresh)
            con.execute("INSERT INTO store SELECT idx, CAST(secret AS BLOB) FROM fresh")
            con.unregister("fresh")
            if persist:
                self._write(con, "store")

    def _write(self, con, table: str) -> None:
        """Replace the store file atomically (readers see the old or the new file, never half)."""
        self.store.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.store.with_name(f".{self.store.name}.{os.getpid()}.tmp")
        con.execute(f"COPY (SELECT idx, secret FROM {db.ident(table)} ORDER BY idx) TO {db.literal(tmp)} "
                    "(FORMAT parquet, COMPRESSION uncompressed)")
        os.chmod(tmp, 0o600)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.store)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes (the stage kernels and the CLI)."""
        self.store.parent.mkdir(parents=True, exist_ok=True)
        lock = self.store.with_name(self.store.name + ".lock")
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
