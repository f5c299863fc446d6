"""The randomised control group: who is held out from retention actions, and proof of it.

The control group is what lets the workbench measure whether retention actions work: a fixed
share of the customers who would be contacted is held out at random, and their churn is later
compared with the churn of those contacted (effect.py).

Membership is a keyed hash of (seed, customer id) and nothing else, so it does not depend on row
order, on which other customers are in the file, or on the run:

- **Stable per customer across runs.** Outcomes are observed weeks after a run, and the next run
  happens before they are in. If the draw changed with every run (it once included the run id),
  a customer held out by one run could be contacted by the next, and "control" churn would be
  contaminated by actions; a customer could also be re-drawn until a run put them where someone
  wanted them. With a fixed key a customer stays in their group for as long as the seed stays
  the same; change the seed only to start a new experiment.
- **Monotone in the share.** A customer is in the group when u < share, so raising the share
  only adds customers to the control group, it never swaps anyone out.
- **Checkable.** `assignment_digest` is committed to the audit chain with the seed and share
  (`control_group_assigned` event); an auditor recomputes the group from the customer ids and the
  seed, maps the ids to subject refs, and compares digests: a cherry-picked group would not match.
"""
from __future__ import annotations

import hashlib
import json
from typing import Sequence

import numpy as np
import pandas as pd

from .audit import AuditLog, canonical_json, sha256_hex
from .llm.local import catalogue_choice  # offline and deterministic: nothing leaves the machine
from .llm.policy import parse_catalogue
from .pseudonyms import SubjectRefs


def _key(seed: int | str) -> bytes:
    return hashlib.blake2b(str(seed).encode("utf-8"), digest_size=32).digest()


def unit_interval(customer_ids: pd.Index | Sequence, seed: int | str) -> pd.Series:
    """u = blake2b(id, key=seed) / 2**64 per customer id: uniform in [0, 1), fixed per (id, seed)."""
    ids = pd.Index(customer_ids).astype(str)
    key = _key(seed)
    u = np.fromiter((int.from_bytes(hashlib.blake2b(c.encode("utf-8"), key=key, digest_size=8).digest(), "big")
                     / 2.0**64 for c in ids), dtype=float, count=len(ids))
    return pd.Series(u, index=pd.Index(ids, name="customer_id"), name="u")


def control_group(customer_ids: pd.Index | Sequence, share: float, seed: int | str) -> pd.Series:
    """Bool Series indexed by customer id: True = held out (no action), about `share` of them.

    The customer is in the control group when u < share (see `unit_interval`). Deterministic per
    (id, seed) and independent of order and of the run. share must be in [0, 1).
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1) (got {share})")
    return (unit_interval(customer_ids, seed) < share).rename("control")


def assignment_digest(subject_refs: Sequence[str], in_control: Sequence[bool]) -> str:
    """sha256 of the canonical JSON of the sorted [subject_ref, in_control] pairs."""
    pairs = sorted([str(r), bool(c)] for r, c in zip(subject_refs, in_control))
    return sha256_hex(canonical_json(pairs))


def record_assignment(audit: AuditLog, refs: SubjectRefs, in_control: pd.Series, share: float,
                      seed: int | str) -> str:
    """Commit the assignment to the audit chain: seed, share, counts and the digest of the
    (subject_ref, in_control) list. Returns the digest."""
    digest = assignment_digest(refs.refs(in_control.index), in_control.to_numpy(dtype=bool))
    audit.event("control_group_assigned", seed=str(seed), share=float(share), customers=int(len(in_control)),
                control=int(in_control.sum()), assignment_sha256=digest,
                rule="control when blake2b(customer_id, key=blake2b(seed)) / 2**64 < share")
    return digest


def verify_assignment(customer_ids: Sequence, refs: SubjectRefs, share: float, seed: int | str,
                      recorded_digest: str) -> bool:
    """Recompute the group for `customer_ids` and compare with a recorded digest."""
    group = control_group(customer_ids, share, seed)
    return assignment_digest(refs.refs(group.index), group.to_numpy()) == recorded_digest


def intended_actions(rows: pd.DataFrame, context: dict) -> list[str]:
    """The action type the catalogue picks for each row (segment, drivers; topics from `context`,
    customer_id -> (topics, sentiment label)): what a control customer would have received."""
    out = []
    # Only the action type is recorded (nothing is sent): the catalogue as written will do.
    catalogue = parse_catalogue()
    for cid, segment, drivers in zip(rows["customer_id"], rows["segment"], rows["drivers"]):
        topics = context.get(cid, ([], None))[0]
        out.append(catalogue_choice(segment, topics, json.loads(drivers) if drivers else [], catalogue)["action_type"])
    return out
