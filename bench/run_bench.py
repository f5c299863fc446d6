#!/usr/bin/env python
"""`make bench`: the whole pipeline, offline, at 1k / 100k / 1M synthetic customers.

For each size the synthetic customers, feedback and consent are written to Parquet files and run
through `run_pipeline.py --customers ... --feedback ... --consent ...` (the default: a local Dask
cluster per run above WORKBENCH_DASK_MIN_ITEMS customers). Reported: wall time, time per stage,
customers/second, peak memory of the whole process tree (runner, stage kernels, Dask workers:
the sum at the worst moment) and of its largest process, DuckDB file size, audit rows; a "floor"
(the same rows read, a logistic regression fitted and scored, predictions written by a minimal
script, measured in the same invocation) so the pipeline's cost is a ratio; and a nightly re-run
after 1% of the customers changed and 1% new feedback arrived, and one on unchanged inputs (the
incremental cost, per stage, as a share of the first run's stage time, wall time and CPU seconds).
Results go to bench/results/pipeline-<N>.json; then bench/scale_bench.py (one worker vs two on
the per-customer work, the single writer's rate, a projection to 16 workers and 10M customers).
First, the anonymizer's throughput on the synthetic feedback (texts per CPU-second, i.e. per
core; bench/pii_bench.py) against the figure measured before the PII detection work
(bench/results/pii-baseline.json): bench/results/pii.json. Then the dashboard snapshot of a
database of 1M customers (bench/publish_bench.py): bench/results/publish.json.

    python bench/run_bench.py                        # 1k, 100k, 1M
    python bench/run_bench.py --sizes 1000,100000    # a quicker subset
    python bench/run_bench.py --sizes 100000 --nightly-only   # only the incremental cost (make bench-nightly)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# Stage time (the sum over the five stages), seconds; and the nightly re-run's share of the first run.
TARGETS = {1_000: 10.0, 100_000: 30.0, 1_000_000: 150.0}
RERUN_TARGET = 0.10
MEMORY_TARGET_MB = 2048
CHANGED_SHARE = 0.01


class PeakRss:
    """Polls a process tree: peak of its summed RSS, and of its largest process."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.tree_mb = self.largest_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            try:
                sizes = [self.root.memory_info().rss]
                for child in self.root.children(recursive=True):
                    try:
                        sizes.append(child.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            self.tree_mb = max(self.tree_mb, sum(sizes) / 2**20)
            self.largest_mb = max(self.largest_mb, max(sizes) / 2**20)
            time.sleep(0.2)

    def stop(self):
        self._stop.set()
        self._thread.join()


def write_inputs(workdir: Path, n: int, nightly: bool = False) -> list[str]:
    """The synthetic data as files; `nightly`: 1% of the customers changed, 1% new feedback."""
    from churn_workbench import synthetic
    data = synthetic.generate(n, 7)
    customers, feedback = data.customers.copy(), data.feedback.copy()
    if nightly:
        rng = np.random.default_rng(11)
        changed = rng.random(len(customers)) < CHANGED_SHARE
        customers.loc[changed, "monthly_charges"] = customers.loc[changed, "monthly_charges"] + 5.0
        customers.loc[changed, "complaints_90d"] = customers.loc[changed, "complaints_90d"] + 1
        extra = feedback.sample(frac=CHANGED_SHARE, random_state=3).copy()
        extra["feedback_id"] = [f"N{i:09d}" for i in range(len(extra))]
        extra["customer_id"] = customers["customer_id"].sample(len(extra), replace=True, random_state=5).to_numpy()
        feedback = pd.concat([feedback, extra], ignore_index=True)
    paths = {"customers": workdir / "customers.parquet", "feedback": workdir / "feedback.parquet",
             "consent": workdir / "consent.parquet"}
    customers.to_parquet(paths["customers"], index=False)
    feedback.to_parquet(paths["feedback"], index=False)
    data.consent.to_parquet(paths["consent"], index=False)
    config = workdir / "data.toml"
    config.write_text('sensitive_columns = ["age"]\n')
    return ["--customers", str(paths["customers"]), "--feedback", str(paths["feedback"]), "--consent",
            str(paths["consent"]), "--data-config", str(config)]


def run_pipeline(workdir: Path, n: int, inputs: list[str], extra_env: dict | None = None) -> dict:
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(workdir / "data"), WORKBENCH_DB=str(workdir / "data" / "wb.duckdb"),
               WORKBENCH_AUDIT_DIR=str(workdir / "audit"), WORKBENCH_LLM="local",
               WORKBENCH_SIGNING_KEY_FILE=str(workdir / "keys" / "signing.pem"),
               WORKBENCH_HEADS_FILE=str(workdir / "heads" / "heads.jsonl"), **(extra_env or {}))
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", *inputs],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = PeakRss(proc.pid)
    output, _ = proc.communicate()
    peak.stop()
    wall = time.monotonic() - started
    # CPU seconds of the whole tree (runner, kernels, cluster): what other load on a shared
    # machine does not inflate, unlike wall time.
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"pipeline failed at {n} customers:\n{output}")
    con = duckdb.connect(str(workdir / "data" / "wb.duckdb"), read_only=True)
    run_id = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    stages = dict(con.execute("SELECT stage, round(duration_s, 2) FROM stage_runs WHERE run_id = ? ORDER BY started_at", [run_id]).fetchall())
    audit_rows = con.execute("SELECT count(*) FROM audit_log WHERE run_id = ?", [run_id]).fetchone()[0]
    con.close()
    incremental = next((line.split("incremental:", 1)[1].strip() for line in output.splitlines() if "incremental:" in line), "")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu_s, 1), "stage_s": round(sum(stages.values()), 2), "stages_s": stages,
            "customers_per_s": round(n / wall, 1), "peak_rss_tree_mb": round(peak.tree_mb, 1),
            "peak_rss_largest_mb": round(peak.largest_mb, 1),
            "db_mb": round((workdir / "data" / "wb.duckdb").stat().st_size / 2**20, 1), "audit_rows": audit_rows,
            "incremental": incremental}


FLOOR = r'''
import sys, time, duckdb, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
t0, c0 = time.monotonic(), time.process_time()
con = duckdb.connect(sys.argv[1])
con.execute("CREATE OR REPLACE TABLE customers AS SELECT * FROM read_parquet(?)", [sys.argv[2]])
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
print(time.monotonic() - t0, time.process_time() - c0)
'''


def run_floor(workdir: Path) -> tuple[float, float]:
    """The floor on the same customers file: read, fit, score, write. (wall s, CPU s)"""
    out = subprocess.run([sys.executable, "-c", FLOOR, str(workdir / "floor.duckdb"), str(workdir / "customers.parquet")],
                         capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return round(float(wall), 2), round(float(cpu), 2)


def bench(n: int, floor: bool = True) -> dict:
    """The first run, the floor, an unchanged re-run and the nightly re-run (1% changed)."""
    loads = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{n}-") as tmp:
        workdir = Path(tmp)
        print(f"-- {n:,} customers: first run ...", flush=True)
        loads.append(os.getloadavg()[0])
        first = run_pipeline(workdir, n, write_inputs(workdir, n))
        floor_s = floor_cpu = None
        if floor:
            print(f"   {first['wall_s']}s (stages {first['stage_s']}s); floor ...", flush=True)
            floor_s, floor_cpu = run_floor(workdir)
            print(f"   {floor_s}s", flush=True)
        print(f"   {first['wall_s']}s (stages {first['stage_s']}s); re-run on unchanged inputs ...", flush=True)
        loads.append(os.getloadavg()[0])
        unchanged = run_pipeline(workdir, n, write_inputs(workdir, n))
        print(f"   {unchanged['wall_s']}s (stages {unchanged['stage_s']}s); nightly re-run (1% customers changed, "
              "1% new feedback) ...", flush=True)
        loads.append(os.getloadavg()[0])
        rerun = run_pipeline(workdir, n, write_inputs(workdir, n, nightly=True))
        print(f"   {rerun['wall_s']}s (stages {rerun['stage_s']}s)", flush=True)
    loads.append(os.getloadavg()[0])
    result = {"customers": n, "first": first, "unchanged": unchanged, "nightly": rerun, "floor_s": floor_s,
              "floor_cpu_s": floor_cpu,
              "overhead_vs_floor": round(first["wall_s"] / floor_s, 2) if floor_s else None,
              "cpu_vs_floor": round(first["cpu_s"] / floor_cpu, 2) if floor_cpu else None,
              **{f"{name}_{what}": round(run[key] / first[key], 3) if first[key] else None
                 for name, run in (("unchanged", unchanged), ("nightly", rerun))
                 for what, key in (("fraction", "wall_s"), ("stage_fraction", "stage_s"), ("cpu_fraction", "cpu_s"))},
              "load_average": round(max(loads), 1), "load_averages": [round(x, 1) for x in loads], "cpus": os.cpu_count()}
    (RESULTS / f"pipeline-{n}.json").write_text(json.dumps(result, indent=2))
    return result


def incremental_table(results: list[dict]) -> str:
    """Per stage: the first run, the unchanged re-run and the nightly re-run, and their ratios."""
    stage_names = ["ingest", "feedback", "train", "predict", "act"]
    lines = ["| customers | run | " + " | ".join(stage_names) + " | stages s | % of first (stages) | wall s (%) "
             "| CPU s (%) |", "|" + "---|" * (len(stage_names) + 6)]
    for r in results:
        first = r["first"]
        for name in ("first", "unchanged", "nightly"):
            run = r.get(name)
            if not run:
                continue
            pct = lambda key: f"{100 * run[key] / first[key]:.0f}%" if first.get(key) else ""  # noqa: E731
            lines.append(f"| {r['customers']:,} | {name} | " + " | ".join(str(run["stages_s"].get(s, "")) for s in stage_names)
                         + f" | {run['stage_s']} | {pct('stage_s')} | {run['wall_s']} ({pct('wall_s')})"
                         f" | {run.get('cpu_s', '')} ({pct('cpu_s')}) |")
        lines.append(f"load average {r.get('load_averages') or r.get('load_average')} on {r.get('cpus')} CPUs; "
                     f"nightly target <= {100 * RERUN_TARGET:.0f}% of the first run")
        for name in ("unchanged", "nightly"):
            if (r.get(name) or {}).get("incremental"):
                lines.append(f"  {name} at {r['customers']:,}: {r[name]['incremental']}")
    return "\n".join(lines)


def table(results: list[dict]) -> str:
    stage_names = ["ingest", "feedback", "train", "predict", "act"]
    head = ("| customers | " + " | ".join(stage_names) + " | stages s | total s | CPU s | cust/s | peak RSS tree MB | largest MB"
            " | DB MB | audit rows | floor s | × floor | nightly s | nightly CPU s | nightly % |")
    lines = [head, "|" + "---|" * (len(stage_names) + 13)]
    for r in results:
        f, night = r["first"], r.get("nightly") or r.get("rerun")
        lines.append(f"| {r['customers']:,} | " + " | ".join(str(f["stages_s"].get(s, "")) for s in stage_names)
                     + f" | {f.get('stage_s', '')} | {f['wall_s']} | {f.get('cpu_s', '')} | {f['customers_per_s']:,}"
                     f" | {f.get('peak_rss_tree_mb', f.get('peak_rss_pipeline_mb'))} | {f.get('peak_rss_largest_mb', f.get('peak_rss_kernel_mb'))}"
                     f" | {f['db_mb']} | {f['audit_rows']:,} | {r['floor_s'] or ''} | {r['overhead_vs_floor'] or ''} | {night['wall_s']}"
                     f" | {night.get('cpu_s', '')}"
                     f" | {100 * night['wall_s'] / f['wall_s']:.0f}% |")
    for r in results:
        n, night = r["customers"], r.get("nightly") or {}
        if n in TARGETS and night:
            lines.append(f"{n:,}: stage time {r['first'].get('stage_s')}s (target <= {TARGETS[n]:.0f}s), "
                         f"peak memory {r['first'].get('peak_rss_tree_mb')} MB (target <= {MEMORY_TARGET_MB} MB at 1M), "
                         f"nightly re-run {100 * night.get('wall_s', 0) / r['first']['wall_s']:.0f}% of the first run "
                         f"(target <= {100 * RERUN_TARGET:.0f}%; in CPU seconds {100 * (r.get('nightly_cpu_fraction') or 0):.0f}%); "
                         f"CPU {r['first'].get('cpu_s')}s = {r.get('cpu_vs_floor')}x the floor's {r.get('floor_cpu_s')}s; "
                         f"load average {r.get('load_average')} on {r.get('cpus')} CPUs")
        if night.get("incremental"):
            lines.append(f"  nightly at {n:,}: {night['incremental']}")
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
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--no-scale", action="store_true", help="skip bench/scale_bench.py")
    parser.add_argument("--nightly-only", action="store_true",
                        help="only the pipeline runs (first, unchanged, nightly) and their incremental cost")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.nightly_only:
        report = incremental_table([bench(n, floor=False) for n in sizes])
        (RESULTS / "nightly.md").write_text(report + "\n")
        print(report)
        return
    throughput = anonymizer_throughput()
    print(throughput, flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "publish_bench.py")], check=True)
    for n in sizes:
        bench(n)
    # The summary covers every size measured so far, not only this invocation's.
    results = sorted((json.loads(p.read_text()) for p in RESULTS.glob("pipeline-*.json")), key=lambda r: r["customers"])
    report = table(results) + "\n" + incremental_table(results) + "\n" + throughput
    if not args.no_scale:
        sys.path.insert(0, str(ROOT / "bench"))
        import scale_bench
        print("-- one worker vs two on the per-customer work ...", flush=True)
        scale_bench.main([])
        report += "\n" + scale_bench.report(json.loads((RESULTS / "scale.json").read_text()))
    (RESULTS / "summary.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
