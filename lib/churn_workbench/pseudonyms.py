"""Pseudonymous subject refs: how the audit log and the dashboard name a customer without their id."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Iterable


class SubjectRefs:
    """Pseudonymous refs for customers: a keyed hash, so the audit log holds no customer id.

    The key lives in a file outside the database (or is given as `key`, from the setting
    WORKBENCH_SUBJECT_KEY), so someone with only the database cannot link a ref back to an id
    by hashing candidate ids.
    """

    def __init__(self, key_file: str | Path, key: str | None = None):
        if key:
            self._key = key.encode()
            return
        key_file = Path(key_file)
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        self._key = key_file.read_text().strip().encode()

    def ref(self, customer_id) -> str:
        return "subj_" + hmac.new(self._key, str(customer_id).encode(), hashlib.sha256).hexdigest()[:20]

    def refs(self, customer_ids: Iterable) -> list[str]:
        return [self.ref(c) for c in customer_ids]
