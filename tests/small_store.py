"""A small hand-built store for the boundary and erasure tests: a few customers with every kind
of row (feedback, analysis, prediction, action, consent, an LLM request, a cached answer),
written straight into a DuckDB file without running a pipeline."""
from __future__ import annotations

from datetime import datetime, timedelta

from churn_workbench import config, db
from churn_workbench.llm import cache_key
from churn_workbench.llm.prompts import json_compact

MODEL, VERSION = "m-1", "analysis-v1"


def settings(root) -> config.Settings:
    return config.Settings(data_dir=root / "data", audit_dir=root / "audit")


def build(s: config.Settings, ids=("C7302", "C7303")) -> None:
    """Each id gets a customer row, one feedback with its analysis, a prediction, an action, two
    consent grants, and its text in one shared LLM request (plus its cached answer)."""
    when = datetime.now() - timedelta(hours=1)
    texts = {cid: f"My router keeps dropping, ticket of {cid.lower()} unanswered" for cid in ids}
    items = [{"ref": f"r{i + 1}", "text": texts[cid]} for i, cid in enumerate(ids)]
    body = json_compact({"model": MODEL, "messages": [{"role": "system", "content": "analyse"},
                                                      {"role": "user", "content": json_compact(items)}]})
    with db.session(s.db_path) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, name VARCHAR, churned TINYINT)")
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r1', ?, 'succeeded')", [when])
        for n, cid in enumerate(ids):
            key = cache_key(texts[cid], VERSION, MODEL)
            con.execute("INSERT INTO customers VALUES (?, ?, 0)", [cid, f"Person {n}"])
            con.execute("INSERT INTO feedback (feedback_id, customer_id, text, created_at, run_id) VALUES (?, ?, ?, ?, 'r1')",
                        [f"F{n}", cid, texts[cid], when])
            con.execute("INSERT INTO feedback_analysis (run_id, feedback_id, customer_id, anonymized_text, status, cache_key) "
                        "VALUES ('r1', ?, ?, ?, 'ok', ?)", [f"F{n}", cid, texts[cid], key])
            con.execute("INSERT INTO predictions (run_id, customer_id, churn_probability, segment) VALUES ('r1', ?, 0.7, 'High')",
                        [cid])
            con.execute("INSERT INTO actions (run_id, customer_id, segment, action_type, status) "
                        "VALUES ('r1', ?, 'High', 'discount', 'proposed')", [cid])
            for purpose in ("profiling", "marketing"):
                con.execute("INSERT INTO consent VALUES (?, ?, true, ?, 'form', 'r1')", [cid, purpose, when])
            con.execute("INSERT INTO analysis_cache VALUES (?, '{}', 'p', ?, ?, 'r1')", [key, MODEL, VERSION])
        con.execute("INSERT INTO llm_egress (request_id, run_id, stage, model, prompt_version, payload, n_items, sent_at) "
                    "VALUES ('q1', 'r1', 'feedback', ?, ?, ?, ?, ?)", [MODEL, VERSION, body, len(ids), when])


def count(s: config.Settings, table: str, customer_id: str) -> int:
    with db.session(s.db_path) as con:
        return con.execute(f"SELECT count(*) FROM {db.ident(table)} WHERE customer_id = ?", [customer_id]).fetchone()[0]
