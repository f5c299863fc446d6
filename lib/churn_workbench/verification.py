"""`verify`: recompute the audit chain and cross-check it with everything it commits to.

Checked, in this order (the first divergence is what `verify` leads with):
1. the chain: seq gap-free from 1, each prev_hash and hash recomputed;
2. exported signed heads (`--heads FILE`): each head of this database is still in the chain
   (same seq, hash and run id) and its Ed25519 signature verifies;
3. runs: the chain, the `runs` table and `audit/runs/` agree on which runs exist;
4. artefacts, three ways: the sha256 the chain sealed (`artefacts_sealed`, `stage_finished`,
   `model_trained`/`model_reused`) = the manifest's = the file's; the manifest's chain head is
   in the chain;
5. rows: each run's rows in every governed table hash to the digest the chain committed
   (`rows_committed`), counting rows erased since (`subject_erased` events);
6. consent: each consent check's exclusion events name exactly the customers its count and
   digest record, carried sets included (consent_trail.py).

A broken chain is reported once, at the first bad row; checks that would depend on rows at or
after it are skipped instead of reported, so one edit is not reported as a cascade of
"truncated" manifests.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import audit, consent_trail, db, signing
from .workspace import Workspace, read_identity
from .audit import ADDED_ROW_HASHES, ARTEFACTS_SEALED, GENESIS, GOVERNED_TABLES, REMOVED_ROW_HASHES, ROWS_COMMITTED, SUBJECT_ERASED

# Events whose details verify reads (everything else is only hashed), and the keys by which any
# event (an erasure, a retention purge) declares rows it removed or rewrote.
_DECLARES = (REMOVED_ROW_HASHES, ADDED_ROW_HASHES)
_READ_DETAILS = {ARTEFACTS_SEALED, ROWS_COMMITTED, SUBJECT_ERASED, "stage_finished", "stage_failed", "model_not_promoted",
                 "model_trained", "model_reused",
                 consent_trail.CHECKED, consent_trail.EXCLUDED, consent_trail.UNCHANGED}


@dataclass
class Finding:
    kind: str     # chain | heads | runs | manifest | artefact | rows | consent
    where: str    # the record, file or table
    message: str  # one line, naming `where`

    def __str__(self) -> str:
        return self.message


@dataclass
class VerifyResult:
    findings: list[Finding]
    events: int
    runs_checked: int
    digests_checked: int = 0
    heads_checked: int | None = None     # None: no heads file given
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[str]:
        return [f.message for f in self.findings]

    def __str__(self) -> str:
        if not self.ok:
            more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            return f"audit FAILED: {self.findings[0].message}{more}"
        heads = (f", {self.heads_checked} exported signed head(s) found in the chain" if self.heads_checked is not None
                 else " (no exported heads checked: use --heads FILE to rule out rewrite, erasure or wipe)")
        return (f"audit OK: {self.events} events chained, {self.runs_checked} run manifest(s) and their artefacts "
                f"verified, {self.digests_checked} table digest(s) recomputed{heads}")

    def to_dict(self) -> dict:
        return {"ok": self.ok, "summary": str(self), "first": _as_dict(self.findings[0]) if self.findings else None,
                "problems": [_as_dict(f) for f in self.findings], "events": self.events,
                "runs_checked": self.runs_checked, "digests_checked": self.digests_checked,
                "heads_checked": self.heads_checked, "notes": self.notes}


def _as_dict(finding: Finding) -> dict:
    return {"kind": finding.kind, "where": finding.where, "message": finding.message}


@dataclass
class Chain:
    """What verify knows about audit_log after recomputing it."""
    hashes: dict[int, str]                  # seq -> hash, trusted rows only
    run_of: dict[int, str | None]           # seq -> run_id, trusted rows only
    events: list[dict]                      # trusted events verify reads (seq, run_id, event_type, details)
    span: dict[str | None, tuple[int, int]]  # run_id -> (first seq, last seq), over all rows present
    types: dict[str | None, set[str]] = field(default_factory=lambda: defaultdict(set))  # trusted event types per run
    broken_at: int | None = None            # first seq that is not trusted (None: the whole chain is)
    finding: Finding | None = None

    @property
    def last_seq(self) -> int:
        return max(self.hashes) if self.hashes else 0

    def trusted(self, seq: int) -> bool:
        return self.broken_at is None or seq < self.broken_at

    def run_trusted(self, run_id: str | None) -> bool:
        """All of the run's rows precede the break: its events can be relied on."""
        return self.broken_at is None or run_id not in self.span or self.span[run_id][1] < self.broken_at


def read_chain(con: duckdb.DuckDBPyConnection) -> Chain:
    """Recompute every hash in seq order; stop trusting at the first row that does not chain."""
    span = {r[0]: (int(r[1]), int(r[2])) for r in con.execute(
        "SELECT run_id, min(seq), max(seq) FROM audit_log GROUP BY run_id").fetchall()}
    chain = Chain({}, {}, [], span)
    prev, expected = GENESIS, 1
    for row in _audit_rows(con):
        seq = row["seq"]
        problem = None
        if seq != expected:
            problem = f"expected seq {expected}, found seq {seq} (row missing or reordered)"
        elif row["prev_hash"] != prev:
            problem = "prev_hash does not match the previous row (row inserted, removed or rewritten)"
        elif audit.row_hash(prev, row) != row["hash"]:
            problem = "content does not match its hash (row altered)"
        if problem:
            where = f"audit_log seq {min(seq, expected)}"
            chain.broken_at = min(seq, expected)
            chain.finding = Finding("chain", where, f"{where}: {problem}")
            return chain
        chain.hashes[seq] = prev = row["hash"]
        chain.run_of[seq] = row["run_id"]
        chain.types[row["run_id"]].add(row["event_type"])
        if row["event_type"] in _READ_DETAILS or any(f'"{k}":' in (row["details"] or "") for k in _DECLARES):
            chain.events.append({"seq": seq, "run_id": row["run_id"], "stage": row["stage"],
                                 "event_type": row["event_type"], "subject_ref": row["subject_ref"],
                                 "details": json.loads(row["details"] or "{}")})
        expected += 1
    return chain


def _audit_rows(con: duckdb.DuckDBPyConnection, batch: int = 50_000):
    """audit_log's rows in seq order as dicts, fetched in batches. Plain tuples, not a DataFrame:
    every column is text (or the integer seq) exactly as it was hashed, NULL as None."""
    fields = (*audit._ROW_FIELDS, "prev_hash", "hash")
    cursor = con.execute(f"SELECT {', '.join(fields)} FROM audit_log ORDER BY seq")
    while rows := cursor.fetchmany(batch):
        for values in rows:
            yield dict(zip(fields, values))


def verify_chain(con: duckdb.DuckDBPyConnection) -> tuple[list[str], dict[int, str]]:
    """Recompute every hash in seq order. Returns (problems, seq -> hash of the rows that chain)."""
    chain = read_chain(con)
    return ([chain.finding.message] if chain.finding else []), chain.hashes


def verify(ws: Workspace, heads_file: str | Path | None = None) -> VerifyResult:
    """Every check in the module docstring, on the workspace's own files (a copy is checked against
    the copy). `heads_file`: also prove each exported head of this workspace."""
    db_path = ws.db_path.resolve()
    con = db.connect(db_path, read_only=True, wait_s=30)
    try:
        chain = read_chain(con)
        identity = read_identity(con)
        runs_table = {r[0]: r[1] for r in con.execute("SELECT run_id, status FROM runs ORDER BY started_at").fetchall()}
        findings = [chain.finding] if chain.finding else []
        notes: list[str] = []
        heads_checked = None
        if heads_file is not None:
            heads_checked = _check_heads(chain, Path(heads_file), identity, db_path, findings, notes)
        runs_checked = _check_runs(chain, runs_table, ws, findings, notes)
        digests_checked = _check_rows(con, chain, findings, notes)
        # Only runs whose rows all precede a break: a check cut off by it is not a finding of its own.
        trusted = [e for e in chain.events if chain.run_trusted(e["run_id"])]
        findings.extend(Finding("consent", f"audit_log seq {seq}", problem)
                        for seq, problem in consent_trail.check_trail(trusted, con))
    finally:
        con.close()
    return VerifyResult(findings, len(chain.hashes), runs_checked, digests_checked, heads_checked, notes)


# --- 2. exported heads ----------------------------------------------------------------------------

def _check_heads(chain: Chain, heads_file: Path, identity: str | None, db_path: Path, findings: list,
                 notes: list) -> int:
    if not heads_file.exists():
        findings.append(Finding("heads", str(heads_file), f"{heads_file}: heads file not found"))
        return 0
    heads, bad = signing.read_heads(heads_file)
    findings.extend(Finding("heads", str(heads_file), b) for b in bad)
    keys_path = signing.public_keys_path(heads_file)
    keys = signing.load_public_keys(keys_path)
    if not keys:
        findings.append(Finding("heads", str(keys_path), f"{keys_path}: no public key next to the heads file, "
                                "so no signature can be checked"))
    # A head names its workspace by id (portable: a moved or copied workspace keeps it); heads
    # written before workspaces had ids name the database by path.
    mine = [(n, h) for n, h in heads if (h.get("workspace") == identity if h.get("workspace")
                                         else h.get("db") == str(db_path))]
    if len(mine) < len(heads):
        notes.append(f"{len(heads) - len(mine)} head(s) in {heads_file} belong to other workspaces and were not checked")
    if not mine:
        findings.append(Finding("heads", str(heads_file),
                                f"{heads_file}: holds no signed head for workspace {identity} ({db_path}) "
                                "(wrong file, or the database was replaced)"))
        return 0
    checked = 0
    for number, head in mine:
        where = f"{heads_file} line {number}"
        seq, run = int(head["seq"]), head.get("run_id")
        label = f"{where}: signed head seq {seq} of run {run} ({head.get('ts')})"
        problem = signing.signature_problem(head, keys) if keys else None
        if problem:
            findings.append(Finding("heads", where, f"{label}: {problem}"))
            continue
        if not chain.trusted(seq):
            continue  # at or after the chain's first bad row, already reported
        if seq > chain.last_seq:
            what = ("audit_log is empty (log wiped)" if chain.last_seq == 0
                    else f"the log ends at seq {chain.last_seq} (events erased, or history rewritten shorter)")
            findings.append(Finding("heads", where, f"{label} is not in the chain: {what}"))
        elif chain.hashes.get(seq) != head["hash"] or chain.run_of.get(seq) != run:
            findings.append(Finding("heads", where, f"{label} does not match audit_log seq {seq} "
                                    "(history rewritten with recomputed hashes)"))
        else:
            checked += 1
    if mine and chain.broken_at is None:
        newest = max(int(h["seq"]) for _, h in mine)
        if chain.last_seq > newest:
            notes.append(f"{chain.last_seq - newest} event(s) after the newest exported head (seq {newest}) "
                         "are not yet covered by a signed head")
    return checked


# --- 3. and 4. runs, manifests, artefacts ---------------------------------------------------------

def _latest(events: list[dict], *types: str) -> dict[str, dict]:
    """run_id -> the newest trusted event of one of `types`."""
    out = {}
    for e in events:
        if e["event_type"] in types:
            out[e["run_id"]] = e
    return out


def _chain_artefacts(chain: Chain) -> dict[str, dict[str, tuple[str, int]]]:
    """run_id -> {artefact name: (sha256, seq of the event that holds it)} as the chain records them.
    A run's seal lists every artefact; stage and model events hold notebook and model hashes too."""
    out: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
    for e in chain.events:
        d, run = e["details"], e["run_id"]
        if e["event_type"] in ("stage_finished", "stage_failed") and d.get("notebook_sha256"):
            out[run][f"notebook:{e['stage']}"] = (d["notebook_sha256"], e["seq"])
        elif e["event_type"] in ("model_trained", "model_reused") and d.get("model_sha256"):
            out[run]["model"] = (d["model_sha256"], e["seq"])
        elif e["event_type"] == "model_not_promoted" and out[run].get("model", ("",))[0] == d.get("model_sha256"):
            # A candidate the quality gate refused is kept aside, not registered: not a run artefact.
            out[run].pop("model")
    # The seal is written last in a run; where it disagrees with an earlier event, the file was
    # changed during the run, which the seal's own comparison with the file reports.
    for run, e in _latest(chain.events, ARTEFACTS_SEALED).items():
        for name, sha in e["details"].get("artefacts", {}).items():
            out[run][name] = (sha, e["seq"])
    return out


def _check_runs(chain: Chain, runs_table: dict, ws: Workspace, findings: list, notes: list) -> int:
    audit_dir = ws.audit_dir
    in_chain = {r for r in chain.span if r is not None}
    dirs = {p.parent.name for p in (audit_dir / "runs").glob("*/manifest.json")}
    sealed = _chain_artefacts(chain)
    checked = 0
    for run in sorted(in_chain | set(runs_table) | dirs, key=lambda r: (chain.span.get(r, (1 << 62,))[0], r)):
        manifest_path = audit_dir / "runs" / run / "manifest.json"
        trusted, types = chain.run_trusted(run), chain.types.get(run, set())
        if "run_started" in types and run not in runs_table:
            findings.append(Finding("runs", f"runs/{run}", f"table runs: run {run} is in the audit chain but its row is missing"))
        # An interactive run gets its row before its first commit: no events yet is normal there.
        if run not in in_chain and chain.broken_at is None and (run in dirs or runs_table.get(run) != "interactive"):
            where = str(manifest_path.parent) if run in dirs else f"table runs: run {run}"
            findings.append(Finding("runs", where, f"{where}: run {run} has no event in the audit chain "
                                    "(its events were erased, or the run was never recorded)"))
        if not manifest_path.exists():
            if runs_table.get(run) in ("succeeded", "failed") or types & {"run_finished", ARTEFACTS_SEALED}:
                findings.append(Finding("manifest", str(manifest_path),
                                        f"{manifest_path}: manifest missing for finished run {run}"))
            continue
        _check_manifest(chain, run, manifest_path, ws, sealed.get(run, {}) if trusted else None, findings)
        checked += 1
    return checked


def _check_manifest(chain: Chain, run: str, path: Path, ws: Workspace, sealed: dict | None, findings: list) -> None:
    """Manifest vs chain head, and each artefact: chain (`sealed`; None = not trusted) vs manifest vs file."""
    try:
        manifest = json.loads(path.read_text())
        head, artefacts = manifest["chain_head"], manifest["artefacts"]
        head_seq = int(head["seq"])
    except (ValueError, KeyError, TypeError) as exc:
        findings.append(Finding("manifest", str(path), f"{path}: not a readable manifest ({type(exc).__name__})"))
        return
    if manifest.get("run_id") not in (None, run):
        findings.append(Finding("manifest", str(path), f"{path}: names run {manifest.get('run_id')}, not {run}"))
    if chain.trusted(head_seq):
        if head_seq > chain.last_seq:
            findings.append(Finding("manifest", str(path), f"{path}: chain head seq {head_seq} is beyond the log's "
                                    f"last row {chain.last_seq} (log truncated)"))
        elif head_seq and chain.hashes.get(head_seq) != head.get("hash"):
            findings.append(Finding("manifest", str(path), f"{path}: chain head seq {head_seq} does not match audit_log"))
    for name in sorted(set(artefacts) | set(sealed or {})):
        art = artefacts.get(name)
        chained = (sealed or {}).get(name)
        if art is None:
            findings.append(Finding("manifest", str(path), f"{path}: artefact '{name}' of run {run} is sealed in "
                                    f"audit_log seq {chained[1]} but missing from the manifest"))
            continue
        file = ws.resolve(art["path"])
        actual = audit.file_sha256(file) if file.exists() else None
        if chained is not None and chained[0] != art.get("sha256"):
            if actual == art.get("sha256"):
                msg = (f"{file}: artefact '{name}' of run {run} and its manifest hash were both replaced: audit_log "
                       f"seq {chained[1]} holds sha256 {chained[0][:16]}…, the file and manifest {str(actual)[:16]}…")
                findings.append(Finding("artefact", str(file), msg))
            else:
                findings.append(Finding("manifest", str(path), f"{path}: sha256 of artefact '{name}' of run {run} was "
                                        f"edited (audit_log seq {chained[1]} holds {chained[0][:16]}…)"))
            continue
        if actual is None:
            findings.append(Finding("artefact", str(file), f"{file}: artefact '{name}' of run {run} is missing"))
        elif actual != art.get("sha256"):
            findings.append(Finding("artefact", str(file), f"{file}: artefact '{name}' of run {run} was modified (sha256 mismatch)"))


# --- 5. rows of the governed tables ---------------------------------------------------------------

def _check_rows(con: duckdb.DuckDBPyConnection, chain: Chain, findings: list, notes: list) -> int:
    # (table, run) -> (digest, seq, columns hashed); the newest commit wins.
    committed: dict[tuple[str, str], tuple[dict, int, tuple | None]] = {}
    declared = {k: defaultdict(lambda: defaultdict(list)) for k in _DECLARES}   # key -> table -> run -> hashes
    for e in chain.events:
        d = e["details"]
        if e["event_type"] == ROWS_COMMITTED:
            for table, per_run in d.get("digests", {}).items():
                columns = tuple(d.get("columns", {}).get(table) or ()) or None
                for run, digest in per_run.items():
                    committed[(table, run)] = (digest, e["seq"], columns)
        for key in _DECLARES:
            for table, per_run in (d.get(key) or {}).items():
                for run, hashes in per_run.items():
                    declared[key][table][run].extend(hashes)
    removed, added = declared[REMOVED_ROW_HASHES], declared[ADDED_ROW_HASHES]
    first_digest = min((c[1] for c in committed.values()), default=None)
    checked = 0
    for table in GOVERNED_TABLES:
        if not db.table_exists(con, table):
            continue
        expected_runs = {r for (t, r) in committed if t == table}
        present = dict(con.execute(f"SELECT run_id, count(*) FROM {db.ident(table)} GROUP BY run_id").fetchall())
        current = set(audit.columns_of(con, table))
        by_columns: dict[tuple | None, list[str]] = defaultdict(list)
        for run in sorted(r for r in expected_runs if chain.run_trusted(r)):
            columns = committed[(table, run)][2]
            gone = [c for c in columns or () if c not in current]
            if gone:
                findings.append(Finding("rows", f"{table}/{run}", f"table {table}, run {run}: column(s) {', '.join(gone)} "
                                        f"committed in audit_log seq {committed[(table, run)][1]} no longer exist"))
                continue
            by_columns[columns].append(run)
        for columns, runs in by_columns.items():
            actual = audit.table_digests(con, table, runs, {r: removed[table].get(r, []) for r in runs},
                                         {r: added[table].get(r, []) for r in runs}, columns=columns)
            for run in runs:
                (digest, seq, _), now = committed[(table, run)], actual[run]
                checked += 1
                if now["sha256"] == digest.get("sha256") and not now["missing_added"]:
                    continue
                n_removed, n_added = len(removed[table].get(run, [])), len(added[table].get(run, []))
                erased = (f" + {n_removed} erased" if n_removed else "") + (f" - {n_added} rewritten" if n_added else "")
                what = (f"{now['missing_added']} row(s) an erasure declared writing are missing" if now["missing_added"]
                        else "rows differ from the digest committed")
                findings.append(Finding("rows", f"{table}/{run}", (
                    f"table {table}, run {run}: {what} (audit_log seq {seq}: {digest.get('rows')} rows committed; "
                    f"now {present.get(run, 0)} present{erased})")))
        for run, n in sorted(present.items(), key=lambda kv: str(kv[0])):
            if run in expected_runs or not chain.run_trusted(run):
                continue
            if run is None:
                findings.append(Finding("rows", table, f"table {table}: {n} row(s) without a run id"))
            elif run not in chain.span:
                if chain.broken_at is None:
                    findings.append(Finding("rows", f"{table}/{run}", f"table {table}: {n} row(s) of run {run}, "
                                            "which has no event in the audit chain (rows inserted, or the run erased)"))
            elif first_digest is None or chain.span[run][0] < first_digest:
                notes.append(f"table {table}, run {run}: {n} row(s) written before row digests existed, not covered")
            else:
                findings.append(Finding("rows", f"{table}/{run}", f"table {table}, run {run}: {n} row(s) the audit "
                                        "chain never committed to (inserted outside the pipeline)"))
    return checked
