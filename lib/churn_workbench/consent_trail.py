"""The audit trail of consent exclusions: an event per customer whose exclusion is new, one event
for all customers excluded as they were at the previous check.

Each consent check (`consent_checked`, one per stage and purpose) excludes a set of customers, and
records the digest of that set's sorted pseudonymous refs (`excluded_sha256`). Its exclusions
follow it in the chain:

- `consent_excluded`, one per customer (under their ref) who was not excluded at the previous
  check of the same stage and purpose — the first time, every excluded customer;
- `consent_excluded_unchanged`, one event for the customers excluded at that previous check and
  still excluded now: their number, the digest of their refs (`refs_sha256`), the previous
  check's seq (`since_seq`) and the refs that are no longer excluded (`left`). Their set is the
  previous check's set minus `left`, so which customers were excluded stays provable from the
  chain alone, and `verify` recomputes every set and digest (`check_trail`).

A nightly run with unchanged consent thus writes a handful of events instead of one per excluded
customer and stage. The carried sets form a chain back to a check that listed every customer;
after `MAX_DEPTH` links (or when more customers left than stayed) a check lists them all again,
so reading a set back never walks far.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

import duckdb

from . import db
from .audit import AuditLog, digest_of

CHECKED = "consent_checked"
EXCLUDED = "consent_excluded"
UNCHANGED = "consent_excluded_unchanged"
MAX_DEPTH = 30
_MAX_SEQ = (1 << 63) - 1


@dataclass(frozen=True)
class ExclusionSet:
    """The customers (refs) one consent check excluded."""
    seq: int            # the check's consent_checked event
    run_id: str
    refs: frozenset
    depth: int          # carried-set links back to a check that listed every customer (0: this one)


def record(con: duckdb.DuckDBPyConnection, audit: AuditLog, purpose: str, excluded_refs: list[str]) -> None:
    """Add one check's exclusion events to `audit`, right after its `consent_checked` event."""
    previous = latest_set(con, audit.stage, purpose) if excluded_refs else None
    now = set(excluded_refs)
    carried = now & previous.refs if previous is not None else set()
    left = previous.refs - now if previous is not None else set()
    if previous is None or previous.depth >= MAX_DEPTH or not carried or len(left) > len(carried):
        audit.subject_events(EXCLUDED, "excluded", excluded_refs, purpose=purpose)
        return
    audit.subject_events(EXCLUDED, "excluded", [r for r in excluded_refs if r not in previous.refs], purpose=purpose)
    audit.event(UNCHANGED, "excluded", purpose=purpose, customers=len(carried), refs_sha256=digest_of(carried),
                since_seq=previous.seq, since_run=previous.run_id, left=sorted(left), depth=previous.depth + 1)


def latest_set(con: duckdb.DuckDBPyConnection, stage: str, purpose: str) -> ExclusionSet | None:
    """The set the newest check of `stage` and `purpose` excluded, read back from the chain."""
    if not db.table_exists(con, "audit_log"):
        return None
    row = con.execute(f"SELECT max(seq) FROM audit_log WHERE event_type = {db.literal(CHECKED)} AND stage = ? "
                      "AND json_extract_string(details, '$.purpose') = ?", [stage, purpose]).fetchone()
    return exclusion_set(con, int(row[0])) if row and row[0] is not None else None


def exclusion_set(con: duckdb.DuckDBPyConnection, seq: int) -> ExclusionSet | None:
    """The set the check at `seq` excluded (None: no consent check there), following its carried
    set back to the check that listed every customer."""
    links = []
    at = seq
    while True:
        group = _group(con, at)
        if group is None or len(links) > MAX_DEPTH:
            return None
        links.append(group)
        if group[2] is None:
            break
        at = int(group[2]["since_seq"])
    refs: set = set()
    for _, individual, unchanged in reversed(links):
        carried = refs - set(unchanged.get("left") or ()) if unchanged is not None else set()
        refs = carried | set(individual)
    return ExclusionSet(seq, links[0][0], frozenset(refs), len(links) - 1)


def _group(con: duckdb.DuckDBPyConnection, seq: int) -> tuple[str, list[str], dict | None] | None:
    """(run id, refs of its per-customer events, details of its unchanged-set event or None) of the
    check at `seq`: the exclusion events that follow it in the same run and stage."""
    check = con.execute(f"SELECT run_id, stage, details FROM audit_log WHERE seq = ? AND event_type = {db.literal(CHECKED)}",
                        [seq]).fetchone()
    if check is None:
        return None
    run_id, stage, details = check
    purpose = json.loads(details or "{}").get("purpose")
    rows = con.execute(
        f"""SELECT event_type, subject_ref, details FROM audit_log
            WHERE seq > $seq AND seq < coalesce((SELECT min(seq) FROM audit_log WHERE seq > $seq AND NOT (
                  event_type IN ({db.literal(EXCLUDED)}, {db.literal(UNCHANGED)}) AND run_id = $run AND stage = $stage)), {_MAX_SEQ})
              AND json_extract_string(details, '$.purpose') = $purpose ORDER BY seq""",
        {"seq": seq, "run": run_id, "stage": stage, "purpose": purpose}).fetchall()
    individual = [ref for event, ref, _ in rows if event == EXCLUDED]
    unchanged = next((json.loads(d) for event, _, d in rows if event == UNCHANGED), None)
    return run_id, individual, unchanged


def check_trail(events: Iterable[dict], con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """Replay the consent checks of `events` (trusted chain events in seq order, with seq, run_id,
    stage, event_type, subject_ref and parsed details): every carried set and every check's
    excluded set must match the count and digest the chain recorded. Returns (seq, problem)."""
    problems: list[tuple[int, str]] = []
    latest: dict[tuple, tuple[int, frozenset]] = {}   # (stage, purpose) -> newest check's (seq, set)
    for check, members in _checks(events):
        d = check["details"]
        purpose, where = d.get("purpose"), f"consent check of {check['stage']}/{d.get('purpose')} in run {check['run_id']}"
        individual = {m["subject_ref"] for m in members if m["event_type"] == EXCLUDED}
        unchanged = next((m for m in members if m["event_type"] == UNCHANGED), None)
        carried: set = set()
        if unchanged is not None:
            u = unchanged["details"]
            since = int(u.get("since_seq", -1))
            seen = latest.get((check["stage"], purpose))
            base = seen[1] if seen and seen[0] == since else getattr(exclusion_set(con, since), "refs", None)
            if base is None:
                problems.append((unchanged["seq"], f"audit_log seq {unchanged['seq']}: {where} carries the customers "
                                 f"excluded at seq {since}, which is not a consent check"))
                continue
            left = set(u.get("left") or ())
            carried = set(base) - left
            if not left <= base or len(carried) != u.get("customers") or digest_of(carried) != u.get("refs_sha256"):
                problems.append((unchanged["seq"], f"audit_log seq {unchanged['seq']}: {where}: the customers still "
                                 f"excluded since seq {since} do not match the count and digest it records"))
                continue
        excluded = frozenset(individual | carried)
        if "excluded_sha256" in d and (len(excluded) != d.get("excluded") or digest_of(excluded) != d["excluded_sha256"]):
            problems.append((check["seq"], f"audit_log seq {check['seq']}: {where}: its exclusion events name "
                             f"{len(excluded)} customer(s), not the {d.get('excluded')} its count and digest record"))
        latest[(check["stage"], purpose)] = (check["seq"], excluded)
    return problems


def _checks(events: Iterable[dict]):
    """(consent_checked event, the exclusion events right after it in the same run and stage)."""
    check, members, last = None, [], None
    for e in events:
        if check is not None and e["event_type"] in (EXCLUDED, UNCHANGED) and e["seq"] == last + 1 \
                and e["run_id"] == check["run_id"] and e["stage"] == check["stage"]:
            members.append(e)
            last = e["seq"]
            continue
        if check is not None:
            yield check, members
            check, members = None, []
        if e["event_type"] == CHECKED:
            check, last = e, e["seq"]
    if check is not None:
        yield check, members


def carried_for(con: duckdb.DuckDBPyConnection, ref: str) -> list[int]:
    """The seqs of the `consent_excluded_unchanged` events whose customers include `ref` (a
    subject's access export lists them with the events under the ref): the chain's checks
    replayed in order, following one customer only."""
    rows = con.execute(
        f"""SELECT seq, run_id, stage, event_type, subject_ref,
                   CASE WHEN event_type = {db.literal(UNCHANGED)} THEN details END FROM audit_log
            WHERE event_type IN ({db.literal(CHECKED)}, {db.literal(EXCLUDED)}, {db.literal(UNCHANGED)}) ORDER BY seq""").fetchall()
    events = ({"seq": s, "run_id": r, "stage": st, "event_type": e, "subject_ref": sr,
               "details": json.loads(d) if d else {}} for s, r, st, e, sr, d in rows)
    inside: dict[int, bool] = {}
    found = []
    for check, members in _checks(events):
        now = any(m["event_type"] == EXCLUDED and m["subject_ref"] == ref for m in members)
        for m in members:
            d = m["details"]
            if m["event_type"] == UNCHANGED and inside.get(int(d.get("since_seq", -1))) and ref not in (d.get("left") or ()):
                now = True
                found.append(m["seq"])
        inside[check["seq"]] = now
    return found
