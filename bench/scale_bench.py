#!/usr/bin/env python
"""The per-customer work on Dask: one worker vs two, the cost of a partition, and a projection.

The feedback texts of N synthetic customers are anonymized (with each author's identifiers) and
analysed offline, partitioned by customer, on a LocalCluster of one and then of two
single-threaded workers (cluster.map_partitions, as the feedback stage does). The single DuckDB
writer is timed on the rows such a run writes (an Arrow insert plus the row digests the audit
chain commits to). From the measured per-item cost the script projects a 16-worker cluster on
10M customers and the worker count at which the single writer becomes the limit.

    python bench/scale_bench.py [--customers 20000] [--json bench/results/scale.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def per_customer_work(pairs, ids, workers: int) -> dict:
    from churn_workbench import cluster, config
    from churn_workbench.anonymize import anonymize_pairs
    from churn_workbench.llm import local

    local_cluster = cluster.start_local_cluster(config.load_settings(dask_workers=workers))
    try:
        settings = config.load_settings(dask_min_items=1, dask_scheduler=local_cluster.scheduler_address)
        cluster.map_partitions(anonymize_pairs, pairs[:200], ids[:200], settings)  # the workers' first task
        started = time.perf_counter()
        done = cluster.map_partitions(anonymize_pairs, pairs, ids, settings)
        anonymize_s = time.perf_counter() - started
        texts = [d.text for d in done]
        started = time.perf_counter()
        cluster.map_partitions(local.analyze_chunk, texts, ids, settings)
        analyse_s = time.perf_counter() - started
        partitions = len(cluster.split(ids, cluster.partition_count(len(ids), cluster.threads(cluster.connect(settings)))))
    finally:
        cluster.disconnect()
        local_cluster.close()
    return {"workers": workers, "items": len(pairs), "partitions": partitions, "anonymize_s": round(anonymize_s, 2),
            "analyse_s": round(analyse_s, 2), "total_s": round(anonymize_s + analyse_s, 2)}


def writer_rate(rows: int) -> dict:
    """Rows per second the single writer commits: a feedback_analysis-shaped frame inserted from
    Arrow, then the per-row hashes and digest the stage commit records."""
    import duckdb

    from churn_workbench import audit

    frame = pd.DataFrame({"feedback_id": [f"F{i:09d}" for i in range(rows)],
                          "customer_id": [f"C{i // 2:09d}" for i in range(rows)],
                          "sentiment": 0.25, "sentiment_label": "positive", "topics": '["billing"]',
                          "summary": "The bill is wrong again this month.", "status": "local", "run_id": "bench"})
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        con.register("frame", frame)
        con.execute("CREATE TABLE t AS SELECT * FROM frame LIMIT 0")
        started = time.perf_counter()
        con.execute("INSERT INTO t SELECT * FROM frame")
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        audit.digest_of(audit.row_hashes(con, "t"))
        digest_s = time.perf_counter() - started
        con.close()
    return {"rows": rows, "insert_s": round(insert_s, 3), "digest_s": round(digest_s, 3),
            "rows_per_s": round(rows / (insert_s + digest_s))}


def projection(one: dict, writer: dict, texts_per_customer: float, customers: int = 10_000_000,
               workers: int = 16) -> dict:
    """Time of the per-customer work on `workers` workers for `customers`, from one worker's
    measured cost per item, and the writer's time for the rows those customers produce."""
    per_item_s = one["total_s"] / one["items"]
    items = customers * texts_per_customer
    parallel_s = items * per_item_s / workers
    rows = items + 2 * customers  # analyses, plus predictions and (at most) actions
    writer_s = rows / writer["rows_per_s"]
    return {"customers": customers, "workers": workers, "items": int(items), "per_item_ms_one_worker": round(per_item_s * 1000, 3),
            "per_customer_work_s": round(parallel_s), "single_writer_s": round(writer_s),
            "writer_limit_workers": int(writer["rows_per_s"] * per_item_s * items / rows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--writer-rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = parser.parse_args(argv)
    import pii_bench

    pairs = pii_bench.workload(args.customers)
    ids = [k.extra[-1] for _, k in pairs]
    load_before = os.getloadavg()[0]
    runs = [per_customer_work(pairs, ids, w) for w in (1, 2)]
    writer = writer_rate(args.writer_rows)
    result = {"customers": args.customers, "texts": len(pairs), "runs": runs,
              "speedup_two_workers": round(runs[0]["total_s"] / runs[1]["total_s"], 2), "writer": writer,
              "projection": projection(runs[0], writer, len(pairs) / args.customers),
              "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)], "cpus": os.cpu_count()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    return 0


def report(r: dict) -> str:
    one, two = r["runs"]
    p = r["projection"]
    return "\n".join([
        f"per-customer work ({r['texts']:,} feedback texts of {r['customers']:,} customers: anonymize + offline analysis, "
        f"{two['partitions']} partitions by customer):",
        f"  1 worker: {one['total_s']}s (anonymize {one['anonymize_s']}s, analyse {one['analyse_s']}s)",
        f"  2 workers: {two['total_s']}s (anonymize {two['anonymize_s']}s, analyse {two['analyse_s']}s): "
        f"{r['speedup_two_workers']}x (target >= 1.7x; load average {r['load_average'][0]} -> {r['load_average'][1]} on {r['cpus']} CPUs)",
        f"single writer: {r['writer']['rows_per_s']:,} rows/s (insert {r['writer']['insert_s']}s + row digests "
        f"{r['writer']['digest_s']}s for {r['writer']['rows']:,} rows)",
        f"projection, {p['customers']:,} customers on {p['workers']} workers: per-customer work ~{p['per_customer_work_s']:,}s "
        f"({p['per_item_ms_one_worker']} ms per text per worker), single writer ~{p['single_writer_s']:,}s; "
        f"the writer becomes the limit beyond ~{p['writer_limit_workers']:,} workers",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
