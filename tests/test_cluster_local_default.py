"""With nothing set up, a run whose input is large enough (here: WORKBENCH_DASK_MIN_ITEMS lowered)
starts a local Dask cluster, runs its per-customer work there, records where it ran, and closes
the cluster when it ends."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import duckdb
import pytest

from churn_workbench import cluster
from conftest import ROOT, pipeline_env


@pytest.mark.slow
def test_the_default_run_uses_a_local_cluster_and_closes_it(workspace):
    env = pipeline_env(workspace, WORKBENCH_DASK_MIN_ITEMS=50)
    env.pop("WORKBENCH_DASK_SCHEDULER", None)
    result = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--synthetic", "200",
                             "--seed", "3"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    con = duckdb.connect(str(workspace.db_path), read_only=True)
    try:
        events = con.execute("SELECT stage, details FROM audit_log WHERE event_type = 'cluster_work' ORDER BY seq").fetchall()
        scored = con.execute("SELECT count(*), count(DISTINCT customer_id) FROM predictions").fetchone()
    finally:
        con.close()
    steps = {stage: json.loads(details)["steps"] for stage, details in events}
    assert {"feedback", "predict"} <= set(steps)
    assert "anonymize_pairs" in {s["step"] for s in steps["feedback"]}
    assert [s["step"] for s in steps["predict"]] == ["score_partition"]
    all_steps = [s for stage in steps.values() for s in stage]
    # One cluster for the whole run, shared by the stage kernels, on this machine.
    assert len({s["scheduler"] for s in all_steps}) == 1
    assert all_steps[0]["scheduler"].startswith("tcp://127.0.0.1:")
    assert all(1 <= s["workers"] <= cluster.cpu_count() for s in all_steps)
    assert scored[0] == scored[1] > 0  # every scored customer exactly once
    # The run's cluster is gone: nothing listens on its scheduler port any more.
    port = int(steps["feedback"][0]["scheduler"].rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    verify = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _imported(*modules: str) -> list[bool]:
    return [m in sys.modules for m in modules]


@pytest.mark.slow
def test_a_started_cluster_warms_its_workers_with_what_the_stages_handed_it(workspace):
    """The cluster knows no stage: the warm-up it runs on each new worker is the stages'
    (stages/workers.py), handed over by the runner and the stage kernels."""
    from churn_workbench import config
    from churn_workbench.stages import workers
    from distributed import Client

    heavy = ("churn_workbench.anonymize", "churn_workbench.llm.partitioned", "churn_workbench.model")
    settings = config.load_settings(dask_workers=1)
    cluster.warm_workers_with(workers.warm_up)
    started = cluster.start_local_cluster(settings)
    try:
        with Client(started, set_as_default=False) as client:
            assert list(client.run(_imported, *heavy).values()) == [[True, True, True]]
    finally:
        started.close()
        cluster.warm_workers_with(None)
