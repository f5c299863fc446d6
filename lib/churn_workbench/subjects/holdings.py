"""Where one customer's data lives in the store, and the per-row hashes the audit chain checks.

Shared by export (what we hold) and erasure (what we remove), so the two can never disagree.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb

from .. import audit, db
from ..anonymize import strip_invisible
from ..boundary.customer_ids import match_key_of_param_sql, match_key_sql
from ..llm import cache_key
from ..llm.base import ActionRequest
from ..llm.context import action_context
from ..llm.prompts import json_compact
from ..vocab import sentiment_label

# Tables whose rows the audit chain digests per run (see `row_hashes`).
DIGESTED_TABLES = ("predictions", "actions", "feedback_analysis", "llm_egress", "consent")
# Tables keyed by the exact (canonical) customer id. Consent is matched as withdrawals are (below).
BY_CUSTOMER_ID = ("customers", "feedback", "feedback_analysis", "predictions", "actions", "outcomes")
REDACTED_ITEM = "erased on the data subject's request"


def where_customer(con: duckdb.DuckDBPyConnection, table: str, customer_id: str) -> tuple[str, list]:
    """(SQL condition, params) selecting one customer's rows of `table`.

    Every table but consent: the exact canonical id. Consent: the records under the exact id,
    and the records under a look-alike id (same match key: case, width, confusable letters) as
    long as no *other* customer in the store has that key too -- such a record may be that
    customer's withdrawal, and removing it could revive their consent, so it stays (fail closed).
    """
    if table != "consent":
        return "customer_id = ?", [customer_id]
    same_key = f"{match_key_sql('customer_id')} = {match_key_of_param_sql()}"
    if not db.table_exists(con, "customers"):
        return same_key, [customer_id]
    shared = (f"EXISTS (SELECT 1 FROM customers o WHERE CAST(o.customer_id AS VARCHAR) <> ? AND "
              f"{match_key_sql('CAST(o.customer_id AS VARCHAR)')} = {match_key_of_param_sql()})")
    return f"{same_key} AND (customer_id = ? OR NOT {shared})", [customer_id, customer_id, customer_id, customer_id]


def lookalike_ids(con: duckdb.DuckDBPyConnection, customer_id: str, limit: int = 3) -> list[str]:
    """Ids in the customers table (else the consent register) that differ from `customer_id`
    but share its match key: what a caller probably meant when the exact id is not held."""
    found: list[str] = []
    for table in ("customers", "consent"):
        if db.table_exists(con, table):
            found += [r[0] for r in con.execute(
                f"SELECT DISTINCT CAST(customer_id AS VARCHAR) AS id FROM {db.ident(table)} "
                f"WHERE CAST(customer_id AS VARCHAR) <> ? AND {match_key_sql('CAST(customer_id AS VARCHAR)')} = "
                f"{match_key_of_param_sql()} ORDER BY id LIMIT {int(limit)}", [customer_id, customer_id]).fetchall()
                      if r[0] not in found]
    return found[:limit]


def operation_id(kind: str) -> str:
    """Run id of the audit events of one rights operation (it is not a pipeline run: no manifest)."""
    return f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def row_hashes(con: duckdb.DuckDBPyConnection, table: str, where_sql: str, params: list) -> dict[str, list[str]]:
    """{run_id: [sha256 of the row as JSON, ...]} for the rows of `table` matching `where_sql`.

    The audit chain's own per-row hash (audit.row_hash_sql), grouped by run, so removing or
    rewriting rows can be declared to `verify`.
    """
    rows = con.execute(f"SELECT CAST(t.run_id AS VARCHAR), {audit.row_hash_sql(con, table)} "
                       f"FROM {db.ident(table)} t WHERE {where_sql}", params).fetchall()
    out: dict[str, list[str]] = {}
    for run_id, digest in rows:
        out.setdefault(run_id, []).append(digest)
    return {k: sorted(v) for k, v in out.items()}


def holds_anything(con: duckdb.DuckDBPyConnection, customer_id: str) -> bool:
    """Whether any table holds a row under this exact id (a look-alike id is another customer)."""
    for table in (*BY_CUSTOMER_ID, "consent"):
        if db.table_exists(con, table) and con.execute(
                f"SELECT count(*) FROM {db.ident(table)} WHERE customer_id = ?", [customer_id]).fetchone()[0]:
            return True
    return False


def rows_held(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, int]:
    """Rows per table that are the customer's (`where_customer`), for every table that exists."""
    counts = {}
    for table in (*BY_CUSTOMER_ID, "consent"):
        if db.table_exists(con, table):
            where, params = where_customer(con, table, customer_id)
            counts[table] = int(con.execute(f"SELECT count(*) FROM {db.ident(table)} WHERE {where}", params).fetchone()[0])
    return counts


def consent_kept_in_doubt(con: duckdb.DuckDBPyConnection, customer_id: str) -> int:
    """Consent records under a look-alike id that erasure leaves (see `where_customer`)."""
    if not db.table_exists(con, "consent"):
        return 0
    where, params = where_customer(con, "consent", customer_id)
    return int(con.execute(
        f"SELECT count(*) FROM consent WHERE {match_key_sql('customer_id')} = {match_key_of_param_sql()} "
        f"AND NOT ({where})", [customer_id, *params]).fetchone()[0])


@dataclass
class EgressHit:
    """One llm_egress request that carried items derived from the customer's feedback."""
    request_id: str
    run_id: str
    stage: str
    body: dict
    items: list[dict]                  # the user message's items
    mine: list[int]                    # indices of the customer's items
    shared: list[int] = field(default_factory=list)  # ... also items of another customer (same text)

    def own_items(self) -> list[dict]:
        return [self.items[i] for i in self.mine]

    def redacted_payload(self) -> str:
        """The payload with the customer's items replaced by a marker (refs kept, so the item
        count and every other customer's item stay as they were)."""
        items = [({"ref": it.get("ref"), "redacted": REDACTED_ITEM} if i in self.mine and i not in self.shared else it)
                 for i, it in enumerate(self.items)]
        body = json.loads(json.dumps(self.body))
        _user_message(body)["content"] = json_compact(items)
        return json_compact(body)


def _user_message(body: dict) -> dict:
    return [m for m in body.get("messages", []) if m.get("role") == "user"][-1]


def request_items(body) -> list[dict] | None:
    try:
        items = json.loads(_user_message(body)["content"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return items if isinstance(items, list) and all(isinstance(i, dict) for i in items) else None


def egress_hits(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[EgressHit]:
    """Requests that carried the customer's (anonymized) feedback, found by the analysis cache key.

    An item is the customer's when its text hashes (with the request's prompt version and model)
    to a cache key of one of their feedback analyses. The same anonymized text can belong to
    several customers (a short generic message); such an item is marked `shared`.
    Action requests carry only coarse, deduplicated context (segment, risk band, driver names,
    topics, sentiment label), no text and nothing that singles the customer out.
    """
    texts = con.execute("SELECT DISTINCT anonymized_text FROM feedback_analysis WHERE customer_id = ? "
                        "AND anonymized_text IS NOT NULL AND cache_key IS NOT NULL", [customer_id]).fetchall()
    keys = {r[0] for r in con.execute("SELECT DISTINCT cache_key FROM feedback_analysis WHERE customer_id = ? "
                                      "AND cache_key IS NOT NULL", [customer_id]).fetchall()}
    if not keys:
        return []
    # Pre-filter in SQL on a piece of each text as it appears inside the JSON payload.
    needles = [json_compact(strip_invisible(t).strip()[:40])[1:-1] for (t,) in texts if strip_invisible(t).strip()]
    if not needles:
        return []
    cond = " OR ".join(["contains(payload, ?)"] * len(needles))
    rows = con.execute(f"SELECT request_id, run_id, stage, model, prompt_version, payload FROM llm_egress "
                       f"WHERE payload IS NOT NULL AND ({cond})", needles).fetchall()
    hits = []
    for request_id, run_id, stage, model, version, payload in rows:
        try:
            body = json.loads(payload)
        except ValueError:
            continue
        items = request_items(body)
        if not items:
            continue
        item_keys = [cache_key(str(it.get("text", "")), version or "", model or "") for it in items]
        mine = [i for i, k in enumerate(item_keys) if k in keys]
        if not mine:
            continue
        others = {r[0] for r in con.execute(
            "SELECT DISTINCT cache_key FROM feedback_analysis WHERE run_id = ? AND customer_id <> ? AND cache_key IN "
            "(SELECT unnest(?))", [run_id, customer_id, [item_keys[i] for i in mine]]).fetchall()}
        hits.append(EgressHit(request_id, run_id, stage, body, items, mine,
                              [i for i in mine if item_keys[i] in others]))
    return hits


def action_context_hits(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[EgressHit]:
    """Action requests that carried the customer's coarse context.

    The context is rebuilt from the stored rows the act stage used (the action's segment, the
    prediction's probability and drivers, the feedback analyses' topics and mean sentiment of
    the same run) by the act stage's own rule, then looked for among the items of that run's
    action requests. The same context often stands for many customers (requests deduplicate
    it): all such items are `shared`, and erasure leaves them.
    """
    rows = con.execute("""
        SELECT a.run_id, a.segment, p.churn_probability, p.drivers,
               (SELECT avg(f.sentiment) FROM feedback_analysis f WHERE f.run_id = a.run_id AND f.customer_id = a.customer_id),
               (SELECT list_sort(list_distinct(flatten(list(from_json(f.topics, '["VARCHAR"]')))))
                FROM feedback_analysis f WHERE f.run_id = a.run_id AND f.customer_id = a.customer_id),
               (SELECT count(*) FROM feedback_analysis f WHERE f.run_id = a.run_id AND f.customer_id = a.customer_id)
        FROM actions a JOIN predictions p ON p.run_id = a.run_id AND p.customer_id = a.customer_id
        WHERE a.customer_id = ? AND a.status <> 'control'""", [customer_id]).fetchall()
    hits = []
    for run_id, segment, probability, drivers, sentiment, topics, n_feedback in rows:
        try:
            driver_list = json.loads(drivers) if drivers else []
        except ValueError:
            driver_list = []
        context = action_context(ActionRequest(
            customer_id=customer_id, segment=segment, churn_probability=float(probability or 0.0), drivers=driver_list,
            topics=list(topics or []) if n_feedback else [], sentiment_label=sentiment_label(sentiment) if n_feedback else None,
            external_allowed=True))
        for request_id, stage, payload in con.execute(
                "SELECT request_id, stage, payload FROM llm_egress WHERE run_id = ? AND stage = 'act' AND payload IS NOT NULL",
                [run_id]).fetchall():
            try:
                body = json.loads(payload)
            except ValueError:
                continue
            items = request_items(body) or []
            mine = [i for i, it in enumerate(items) if {k: v for k, v in it.items() if k != "ref"} == context]
            if mine:
                hits.append(EgressHit(request_id, run_id, stage, body, items, mine, shared=list(mine)))
    return hits
