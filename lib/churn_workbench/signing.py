"""Signed chain heads: after every run the audit chain's head is signed (Ed25519) and appended
to a heads file that is meant to live somewhere the database's owner does not control.

Why: whoever can write the database and the audit folder can rewrite the whole chain with
recomputed hashes, erase the last run or wipe everything, and the result verifies. A head
exported elsewhere pins (seq, hash, run id) of the chain at that moment; `verify --heads`
proves each one is still in the chain. The signature proves a head was written by the
workbench holding the private key, not typed in later.

Files: the private key (PKCS#8 PEM, created on first use with 0600 perms, outside the data and
audit folders); the heads file (one JSON object per line, append-only); next to it
`<heads>.pub`, the public key(s) in PEM, so the heads file can be checked on its own.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .boundary.paths import append_private, written_file
from .config import Settings
from .errors import UsageError

from .workspace import Workspace

# Signed bytes start with this tag, so a signature over a head can never be replayed as
# a signature over something else made with the same key.
_DOMAIN = b"churn-workbench chain head v1\n"
_SIGNED_FIELDS = ("db", "seq", "hash", "run_id", "ts")
# A head names its workspace by id (the database's own identity, kept when the workspace is moved
# or copied); `db` is where the database was when the head was signed. Heads signed before
# workspaces had ids lack the field, and their signature covers the fields above only.
_WORKSPACE_FIELD = "workspace"


def _signed_fields(head: dict) -> tuple[str, ...]:
    return _SIGNED_FIELDS + ((_WORKSPACE_FIELD,) if _WORKSPACE_FIELD in head else ())


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def head_message(head: dict) -> bytes:
    """The exact bytes that are signed for a head."""
    return _DOMAIN + _canonical({k: head.get(k) for k in _signed_fields(head)}).encode("utf-8")


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_keys_path(heads_file: str | Path) -> Path:
    return Path(heads_file).with_suffix(".pub")


def check_key_location(key_file: Path, settings: Settings) -> None:
    """The key must not sit with what it protects: whoever can rewrite the database or the audit
    folder must not thereby hold the key that signs heads."""
    key_file = Path(key_file).resolve()
    for folder, what in ((settings.data_dir, "data folder"), (settings.db_path.parent, "database folder"),
                         (settings.audit_dir, "audit folder")):
        if key_file.is_relative_to(folder):
            raise UsageError(f"{key_file}: the signing key must live outside the {what} {folder} "
                             "(set WORKBENCH_SIGNING_KEY_FILE)")


def check_files(settings: Settings) -> None:
    """Before a run's first stage, what its end will write: the key outside what it protects, and
    no link (nor a folder, a device) at the heads file's public-key twin, which is appended to
    like the heads file (whose own name the settings checked)."""
    check_key_location(settings.signing_key_file, settings)
    written_file(public_keys_path(settings.heads_file), "WORKBENCH_HEADS_FILE (its public key file)")


def load_or_create_key(key_file: str | Path) -> Ed25519PrivateKey:
    """The private key at `key_file`, created (0600, folder 0700) if it does not exist yet."""
    key_file = Path(key_file)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    if key_file.stat().st_mode & 0o077:
        raise UsageError(f"{key_file}: the signing key is readable by other users; chmod 600 it")
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except ValueError as exc:
        raise UsageError(f"{key_file}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{key_file}: not an Ed25519 private key")
    return key


def _export_public_key(heads_file: Path, public_key: Ed25519PublicKey) -> None:
    """Append the public key to `<heads>.pub` unless it is there already (a new key after a
    rotation is added; old heads keep verifying with the old one)."""
    path = public_keys_path(heads_file)
    if fingerprint(public_key) in load_public_keys(path):
        return
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    append_private(path, pem.decode("ascii"), "WORKBENCH_HEADS_FILE (its public key file)")


def load_public_keys(path: str | Path) -> dict[str, Ed25519PublicKey]:
    """{fingerprint: key} from a file of concatenated PEM public keys (missing file: none)."""
    path = Path(path)
    if not path.exists():
        return {}
    keys = {}
    marker = b"-----END PUBLIC KEY-----"
    for block in path.read_bytes().split(marker):
        if b"-----BEGIN PUBLIC KEY-----" not in block:
            continue
        key = serialization.load_pem_public_key(block.strip() + b"\n" + marker + b"\n")
        if isinstance(key, Ed25519PublicKey):
            keys[fingerprint(key)] = key
    return keys


def sign_head(key: Ed25519PrivateKey, head: dict) -> dict:
    """The heads-file record of `head` (workspace, db, seq, hash, run_id, ts) with key fingerprint and signature."""
    record = {k: head.get(k) for k in _signed_fields(head)}
    record["key"] = fingerprint(key.public_key())
    record["sig"] = base64.b64encode(key.sign(head_message(record))).decode("ascii")
    return record


def signature_problem(record: dict, keys: dict[str, Ed25519PublicKey]) -> str | None:
    """Why `record`'s signature does not verify, or None if it does."""
    key = keys.get(record.get("key"))
    if key is None:
        return f"signed with key {record.get('key')}, which is not among the exported public keys"
    try:
        key.verify(base64.b64decode(record.get("sig") or ""), head_message(record))
    except (InvalidSignature, ValueError):
        return "signature does not verify (the head was edited or forged)"
    return None


def export_head(ws: Workspace, head: dict) -> dict:
    """Sign `head` ({seq, hash, run_id}) for this workspace and append it to the heads file."""
    settings = ws.settings
    check_files(settings)
    key = load_or_create_key(settings.signing_key_file)
    heads_file = Path(settings.heads_file)
    heads_file.parent.mkdir(parents=True, exist_ok=True)
    record = sign_head(key, dict(head, workspace=ws.identity(), db=str(settings.db_path),
                                 ts=datetime.now(timezone.utc).isoformat(timespec="seconds")))
    _export_public_key(heads_file, key.public_key())
    # Appended on disk (a head that is printed as exported must be there), never through a link.
    append_private(heads_file, _canonical(record) + "\n", "WORKBENCH_HEADS_FILE")
    return record


def read_heads(heads_file: str | Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """[(line number, record)] of the heads file and the lines that are not valid records."""
    heads, bad = [], []
    with open(heads_file, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                int(record["seq"]), str(record["hash"])
            except (ValueError, KeyError, TypeError):
                bad.append(f"{heads_file} line {number}: not a signed head record")
                continue
            heads.append((number, record))
    return heads, bad


def describe(record: dict, heads_file: str | Path) -> str:
    """One line for the run summary."""
    return (f"signed head: seq {record['seq']} {record['hash'][:16]}… run {record['run_id']} "
            f"(key {record['key']}) → {heads_file}")
