#!/usr/bin/env python
"""The dashboard snapshot at scale: how long publishing takes for a large database, and how long
one filtered page of the customers table takes to read from the snapshot.

A database of N customers (plus three consent records each, feedback analyses for 60% of them,
actions for a third, one prediction each) is written straight into the schema, then published.
Targets: publish in well under 20 s and a filtered page in under 2 s at 1M customers (they were
test assertions once; a loaded machine made them flaky, so they are measured here).

    python bench/publish_bench.py                 # 1,000,000 customers
    python bench/publish_bench.py --customers 200000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from churn_workbench import db  # noqa: E402
from churn_workbench.dashboard import data as snapshot_data  # noqa: E402
from churn_workbench.dashboard import publish as snapshot_publish  # noqa: E402

TARGETS = {"publish_s": 20.0, "filtered_page_s": 2.0}


def build(db_path: Path, n: int) -> None:
    with db.session(db_path) as con:
        con.execute(f"""CREATE TABLE customers AS SELECT 'C' || lpad(i::VARCHAR, 7, '0') AS customer_id,
                          'Name ' || i AS name, i % 72 AS tenure_months FROM range({n}) t(i)""")
        con.execute("INSERT INTO customer_columns (column_name, role, dtype, run_id) VALUES ('customer_id', 'id', '', 'r'), "
                    "('name', 'identifier', '', 'r'), ('tenure_months', 'feature', '', 'r')")
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r', now(), 'running')")
        con.execute(f"""INSERT INTO predictions (run_id, customer_id, churn_probability, segment, drivers, model_version, scored_at)
                        SELECT 'r', 'C' || lpad(i::VARCHAR, 7, '0'), (i % 100) / 100.0,
                          CASE WHEN i % 100 >= 60 THEN 'High' WHEN i % 100 >= 30 THEN 'Medium' ELSE 'Low' END,
                          '[]', 'v', now() FROM range({n}) t(i)""")
        con.execute(f"""INSERT INTO consent SELECT 'C' || lpad((i // 3)::VARCHAR, 7, '0'),
                          ['profiling', 'external_llm', 'marketing'][i % 3 + 1], i % 7 <> 0, now(), 's', 'r'
                          FROM range({3 * n}) t(i)""")
        con.execute(f"""INSERT INTO feedback_analysis (run_id, feedback_id, customer_id, anonymized_text, sentiment,
                          sentiment_label, topics, summary, status)
                        SELECT 'r', 'F' || i, 'C' || lpad((i % {n})::VARCHAR, 7, '0'), 'text <PHONE_1>', 0.1,
                          'positive', '["billing"]', 's', 'ok' FROM range({n // 2 + n // 10}) t(i)""")
        con.execute(f"""INSERT INTO actions (run_id, customer_id, action_type, status, created_at)
                        SELECT 'r', 'C' || lpad(i::VARCHAR, 7, '0'), 'discount', 'proposed', now()
                        FROM range(0, {n}, 3) t(i)""")


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp:
        tmp = Path(tmp)
        build(tmp / "big.duckdb", n)
        started = time.monotonic()
        snapshot_publish.publish(tmp / "big.duckdb", tmp / "snap", tmp / "audit")
        publish_s = time.monotonic() - started
        data = snapshot_data.load(tmp / "snap")
        try:
            assert data.kpis()["customers"] == n
            started = time.monotonic()
            page = data.customers(snapshot_data.CustomerFilter(segment="High", topic="billing"))
            page_s = time.monotonic() - started
            assert page.total > 0
        finally:
            data.close()
    return {"customers": n, "publish_s": round(publish_s, 2), "filtered_page_s": round(page_s, 3),
            "targets": TARGETS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    result = measure(parser.parse_args().customers)
    out = ROOT / "bench" / "results" / "publish.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"snapshot: {result['customers']:,} customers published in {result['publish_s']:.1f}s "
          f"(target < {TARGETS['publish_s']:.0f}s), a filtered page in {result['filtered_page_s']:.2f}s "
          f"(target < {TARGETS['filtered_page_s']:.0f}s); {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
