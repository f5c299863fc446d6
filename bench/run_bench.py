#!/usr/bin/env python
"""`make bench`: the whole pipeline, offline, at 10k / 100k / 1M synthetic customers.

For each size: wall time per stage, customers/second end to end, peak RSS of the pipeline process
and of the stage kernels, DuckDB file size, audit rows written; a "floor" (the same data read,
featurised, scored and written by a minimal script) so the pipeline's overhead is a ratio; and an
incremental re-run on unchanged data. Results go to bench/results/pipeline-<N>.json.
First, the anonymizer's throughput on the synthetic feedback (texts per CPU-second, i.e. per
core; bench/pii_bench.py) against the figure measured before the PII detection work
(bench/results/pii-baseline.json): bench/results/pii.json. Then the dashboard snapshot of a
database of 1M customers (bench/publish_bench.py): bench/results/publish.json.

    python bench/run_bench.py                       # 10k, 100k, 1M
    python bench/run_bench.py --sizes 10000,100000  # a quicker subset
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGETS = {100_000: 60.0, 1_000_000: 600.0}


class PeakRss:
    """Polls a process tree: peak RSS of the root process and of the largest child (a stage kernel)."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.root_mb = self.child_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            try:
                self.root_mb = max(self.root_mb, self.root.memory_info().rss / 2**20)
                for child in self.root.children(recursive=True):
                    try:
                        self.child_mb = max(self.child_mb, child.memory_info().rss / 2**20)
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            time.sleep(0.2)

    def stop(self):
        self._stop.set()
        self._thread.join()


def run_pipeline(workdir: Path, n: int) -> dict:
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(workdir / "data"), WORKBENCH_DB=str(workdir / "data" / "wb.duckdb"),
               WORKBENCH_AUDIT_DIR=str(workdir / "audit"), WORKBENCH_LLM="local")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--synthetic", str(n), "--seed", "7"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = PeakRss(proc.pid)
    output, _ = proc.communicate()
    peak.stop()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"pipeline failed at {n} customers:\n{output}")
    con = duckdb.connect(str(workdir / "data" / "wb.duckdb"), read_only=True)
    run_id = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    stages = dict(con.execute("SELECT stage, round(duration_s, 2) FROM stage_runs WHERE run_id = ? ORDER BY started_at", [run_id]).fetchall())
    audit_rows = con.execute("SELECT count(*) FROM audit_log WHERE run_id = ?", [run_id]).fetchone()[0]
    con.close()
    return {"wall_s": round(wall, 2), "stages_s": stages, "customers_per_s": round(n / wall, 1),
            "peak_rss_pipeline_mb": round(peak.root_mb, 1), "peak_rss_kernel_mb": round(peak.child_mb, 1),
            "db_mb": round((workdir / "data" / "wb.duckdb").stat().st_size / 2**20, 1), "audit_rows": audit_rows}


FLOOR = r'''
import sys, time, duckdb, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from churn_workbench import synthetic
data = synthetic.generate(int(sys.argv[2]), 7)
t0 = time.monotonic()
con = duckdb.connect(sys.argv[1])
con.register("c", data.customers); con.execute("CREATE OR REPLACE TABLE customers AS SELECT * FROM c")
df = con.execute("SELECT * FROM customers").df()
X = df.drop(columns=["customer_id", "name", "email", "phone", "churned"])
num = X.select_dtypes("number").columns.tolist(); cat = [c for c in X.columns if c not in num]
pipe = make_pipeline(ColumnTransformer([("n", make_pipeline(SimpleImputer(), StandardScaler()), num),
                                        ("c", OneHotEncoder(handle_unknown="ignore"), cat)]), LogisticRegression(max_iter=300))
labelled = df["churned"].notna()
pipe.fit(X[labelled], df.loc[labelled, "churned"].astype(int))
out = pd.DataFrame({"customer_id": df["customer_id"], "p": pipe.predict_proba(X)[:, 1]})
con.execute("CREATE OR REPLACE TABLE floor_predictions AS SELECT * FROM out")
con.close()
print(time.monotonic() - t0)
'''


def run_floor(workdir: Path, n: int) -> float:
    out = subprocess.run([sys.executable, "-c", FLOOR, str(workdir / "floor.duckdb"), str(n)], capture_output=True,
                         text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def bench(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{n}-") as tmp:
        workdir = Path(tmp)
        print(f"-- {n:,} customers: first run ...", flush=True)
        first = run_pipeline(workdir, n)
        print(f"   {first['wall_s']}s; incremental re-run ...", flush=True)
        rerun = run_pipeline(workdir, n)
        print(f"   {rerun['wall_s']}s; floor ...", flush=True)
        floor = run_floor(workdir, n)
    result = {"customers": n, "first": first, "rerun": rerun, "floor_s": floor,
              "overhead_vs_floor": round(first["wall_s"] / floor, 2) if floor else None,
              "rerun_fraction": round(rerun["wall_s"] / first["wall_s"], 3)}
    (RESULTS / f"pipeline-{n}.json").write_text(json.dumps(result, indent=2))
    return result


def table(results: list[dict]) -> str:
    stage_names = ["ingest", "feedback", "train", "predict", "act"]
    head = "| customers | " + " | ".join(stage_names) + " | total s | cust/s | RSS pipeline MB | RSS kernel MB | DB MB | audit rows | floor s | × floor | re-run s | re-run % |"
    lines = [head, "|" + "---|" * (len(stage_names) + 12)]
    for r in results:
        f = r["first"]
        lines.append(f"| {r['customers']:,} | " + " | ".join(str(f["stages_s"].get(s, "")) for s in stage_names)
                     + f" | {f['wall_s']} | {f['customers_per_s']:,} | {f['peak_rss_pipeline_mb']} | {f['peak_rss_kernel_mb']}"
                     f" | {f['db_mb']} | {f['audit_rows']:,} | {r['floor_s']} | {r['overhead_vs_floor']} | {r['rerun']['wall_s']}"
                     f" | {100 * r['rerun_fraction']:.0f}% |")
    by_n = {r["customers"]: r for r in results}
    if 100_000 in by_n and 1_000_000 in by_n:
        lines.append(f"\ncost growth 100k → 1M: {by_n[1_000_000]['first']['wall_s'] / by_n[100_000]['first']['wall_s']:.1f}× (target ≤ 11×)")
    for n, limit in TARGETS.items():
        if n in by_n:
            lines.append(f"{n:,} end to end: {by_n[n]['first']['wall_s']}s (target ≤ {limit:.0f}s)")
    return "\n".join(lines)


def anonymizer_throughput() -> str:
    """One line: texts per CPU-second now vs the stored baseline (see bench/pii_bench.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import pii_bench
    print("-- anonymizer throughput (20,000 customers' synthetic feedback) ...", flush=True)
    now = pii_bench.measure(pii_bench.workload(20_000))
    (RESULTS / "pii.json").write_text(json.dumps(now, indent=2) + "\n")
    line = f"anonymizer: {now['texts_per_cpu_second']:,.0f} texts per CPU-second ({now['texts']:,} texts)"
    base_file = RESULTS / "pii-baseline.json"
    if base_file.exists():
        base = json.loads(base_file.read_text())
        line += (f"; before the PII detection work {base['texts_per_cpu_second']:,.0f} "
                 f"({now['texts_per_cpu_second'] / base['texts_per_cpu_second']:.2f}x; a fair comparison runs both "
                 f"back to back: make bench-pii PII_BASELINE=<old lib/>)")
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    throughput = anonymizer_throughput()
    print(throughput, flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "publish_bench.py")], check=True)
    for n in sizes:
        bench(n)
    # The summary covers every size measured so far, not only this invocation's.
    results = sorted((json.loads(p.read_text()) for p in RESULTS.glob("pipeline-*.json")), key=lambda r: r["customers"])
    report = table(results) + "\n" + throughput
    (RESULTS / "summary.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
