"""Tamper-evident audit log: hash-chained events in DuckDB, per-run manifests, verification.

Each row's hash is sha256(prev_hash + canonical JSON of the row's fields). Changing, deleting,
reordering or truncating rows breaks the chain or its agreement with a run's manifest, which
records the chain head at the end of that run plus the sha256 of every artefact.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import duckdb
import pandas as pd

from . import db

GENESIS = "0" * 64
_ROW_FIELDS = ("seq", "ts", "run_id", "stage", "event_type", "status", "subject_ref", "details")


def canonical_json(value) -> str:
    """Key-sorted, compact JSON: the one serialisation that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def row_hash(prev_hash: str, row: dict) -> str:
    payload = canonical_json({k: row[k] for k in _ROW_FIELDS})
    return sha256_hex(prev_hash + payload)


@dataclass
class AuditLog:
    """Buffers events in memory; `flush` chains and writes them in one batched insert."""

    run_id: str
    stage: str
    pending: list[dict] = field(default_factory=list)

    def event(self, event_type: str, status: str = "ok", subject_ref: str | None = None, **details) -> None:
        self.pending.append(dict(
            ts=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            run_id=self.run_id, stage=self.stage, event_type=event_type, status=status,
            subject_ref=subject_ref, details=canonical_json(details),
        ))

    def subject_events(self, event_type: str, status: str, subject_refs: Iterable[str], **details) -> None:
        """One event per subject (e.g. each customer excluded by consent)."""
        for ref in subject_refs:
            self.event(event_type, status, ref, **details)

    def flush(self, con: duckdb.DuckDBPyConnection) -> int:
        """Append pending events to audit_log, continuing the chain. Call inside the stage transaction."""
        if not self.pending:
            return 0
        last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0], last[1]) if last else (0, GENESIS)
        rows = []
        for event in self.pending:
            seq += 1
            row = dict(event, seq=seq)
            row["prev_hash"] = prev
            row["hash"] = prev = row_hash(prev, row)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=[*_ROW_FIELDS, "prev_hash", "hash"])
        db.insert_df(con, "audit_log", frame)
        written = len(rows)
        self.pending.clear()
        return written


def chain_head(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return {"seq": int(row[0]), "hash": row[1]} if row else {"seq": 0, "hash": GENESIS}


def write_manifest(run_dir: str | Path, run_id: str, head: dict, artefacts: dict[str, str | Path]) -> Path:
    """Record the chain head and the sha256 of each artefact (paths relative to run_dir's parent's parent)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "run_id": run_id,
        "chain_head": head,
        "artefacts": {name: {"path": str(path), "sha256": file_sha256(path)} for name, path in sorted(artefacts.items())},
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = run_dir / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written manifest
    return path


@dataclass
class VerifyResult:
    ok: bool
    problems: list[str]
    events: int
    runs_checked: int

    def __str__(self) -> str:
        if self.ok:
            return f"audit OK: {self.events} events chained, {self.runs_checked} run manifest(s) and their artefacts verified"
        return "audit FAILED: " + "; ".join(self.problems[:5])


def verify_chain(con: duckdb.DuckDBPyConnection) -> tuple[list[str], dict[int, str]]:
    """Recompute every hash in seq order. Returns (problems, seq -> hash)."""
    frame = con.execute(
        f"SELECT {', '.join(_ROW_FIELDS)}, prev_hash, hash FROM audit_log ORDER BY seq"
    ).df()
    problems: list[str] = []
    hashes: dict[int, str] = {}
    prev, expected_seq = GENESIS, 1
    for row in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}
        row["seq"] = int(row["seq"])
        if row["seq"] != expected_seq:
            problems.append(f"audit_log seq {row['seq']}: expected seq {expected_seq} (row missing or reordered)")
            return problems, hashes
        if row["prev_hash"] != prev:
            problems.append(f"audit_log seq {row['seq']}: prev_hash does not match the previous row")
            return problems, hashes
        if row_hash(prev, row) != row["hash"]:
            problems.append(f"audit_log seq {row['seq']}: content does not match its hash (row altered)")
            return problems, hashes
        hashes[row["seq"]] = prev = row["hash"]
        expected_seq += 1
    return problems, hashes


def verify(db_path: str | Path, audit_dir: str | Path) -> VerifyResult:
    """Recompute the chain, check it against every manifest, and every artefact's sha256."""
    con = db.connect(db_path, read_only=True, wait_s=30)
    try:
        problems, hashes = verify_chain(con)
        runs = con.execute("SELECT run_id, status FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()
    audit_dir = Path(audit_dir)
    checked = 0
    last_seq = max(hashes) if hashes else 0
    for run_id, status in runs:
        manifest_path = audit_dir / "runs" / run_id / "manifest.json"
        if not manifest_path.exists():
            if status in ("succeeded", "failed"):
                problems.append(f"{manifest_path}: manifest missing for finished run {run_id}")
            continue
        manifest = json.loads(manifest_path.read_text())
        head = manifest["chain_head"]
        if head["seq"] > last_seq:
            problems.append(f"{manifest_path}: chain head seq {head['seq']} is beyond the log's last row {last_seq} (log truncated)")
        elif head["seq"] and hashes.get(head["seq"]) != head["hash"]:
            problems.append(f"{manifest_path}: chain head seq {head['seq']} does not match audit_log")
        for name, art in manifest["artefacts"].items():
            path = Path(art["path"])
            if not path.is_absolute():
                path = audit_dir.parent / path
            if not path.exists():
                problems.append(f"{path}: artefact '{name}' of run {run_id} is missing")
            elif file_sha256(path) != art["sha256"]:
                problems.append(f"{path}: artefact '{name}' of run {run_id} was modified (sha256 mismatch)")
        checked += 1
    return VerifyResult(ok=not problems, problems=problems, events=len(hashes), runs_checked=checked)
