"""Consent register: latest record per (customer, purpose) wins; no record means no consent."""
from __future__ import annotations

from typing import Iterable

import duckdb
import pandas as pd

from .audit import AuditLog, SubjectRefs

PURPOSES = ("profiling", "external_llm", "marketing")


def allowed(con: duckdb.DuckDBPyConnection, customer_ids: Iterable, purpose: str) -> pd.Series:
    """Boolean Series indexed by customer id: may this customer be used for `purpose` now?

    Fails closed: a customer with no record for the purpose gets False.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    ids = pd.Index(pd.Series(list(customer_ids), dtype="string"), name="customer_id")
    latest = con.execute(
        """
        SELECT customer_id, arg_max(granted, coalesce(recorded_at, TIMESTAMP '1970-01-01')) AS granted
        FROM consent WHERE purpose = ? GROUP BY customer_id
        """,
        [purpose],
    ).df()
    granted = latest.set_index(latest["customer_id"].astype("string"))["granted"]
    result = granted.reindex(ids).astype("boolean").fillna(False).astype(bool)
    result.index = ids
    return result


def check(con: duckdb.DuckDBPyConnection, customer_ids: Iterable, purpose: str,
          audit: AuditLog, refs: SubjectRefs) -> pd.Series:
    """`allowed`, plus the audit trail: counts per outcome and one event per excluded customer."""
    decision = allowed(con, customer_ids, purpose)
    n_allowed = int(decision.sum())
    audit.event("consent_checked", "ok", purpose=purpose, allowed=n_allowed,
                excluded=int(len(decision) - n_allowed))
    audit.subject_events("consent_excluded", "excluded", refs.refs(decision.index[~decision.values]),
                         purpose=purpose)
    return decision
