"""A real Dask cluster (a `dask scheduler` and two `dask worker` processes on 127.0.0.1) runs the
pipeline's per-customer work against the recording LLM server; one worker is killed while the
feedback stage's LLM requests are under way. The run still succeeds, every customer and every
feedback is processed exactly once, every payload that reached the server is in llm_egress
exactly once, nothing reached the server twice, and the audit chain verifies."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import duckdb
import psutil
import pytest

from conftest import ROOT, pipeline_env
from fake_llm_server import FakeLLMServer

DASK = str(Path(sys.executable).with_name("dask"))
KILL_AFTER_REQUESTS = 8


class _CountingRequests(list):
    """The fake server's request log, announcing the moment it holds `n` chat requests."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.reached = n, threading.Event()

    def append(self, record) -> None:
        super().append(record)
        if sum(1 for r in self if r.path.endswith("/chat/completions")) >= self.n:
            self.reached.set()


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client
    with Client(address, timeout=60) as client:
        client.wait_for_workers(n, timeout=120)


def _connected_to(pid: int, port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(c.raddr and c.raddr.port == port for c in psutil.Process(pid).net_connections(kind="tcp"))
    return False


@pytest.fixture
def dask_cluster(workspace, tmp_path):
    """A scheduler and two single-threaded workers, real processes; the workers hold the LLM
    endpoint's settings in their environment, as a deployed worker would."""
    server = FakeLLMServer(seed=4, latency_s=0.05).start()
    server.requests = _CountingRequests(KILL_AFTER_REQUESTS)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"), **server.env())
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT)]
    workers = [subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                                 "--no-dashboard", "--name", f"w{i}"], env=env,
                                stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT) for i in range(2)]
    procs += workers
    try:
        _wait_for_workers(address, 2)
        yield address, server, workers
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=20)
            if p.poll() is None:
                p.kill()
        server.stop()


@pytest.mark.slow
def test_a_worker_killed_mid_stage_costs_a_retry_not_a_row(workspace, dask_cluster):
    address, server, workers = dask_cluster
    server_port = int(server.root.rsplit(":", 1)[1])
    killed: list[int] = []

    def kill_a_sending_worker() -> None:
        if not server.requests.reached.wait(timeout=600):
            return
        # A worker with an open connection to the LLM endpoint is one whose partition is sending.
        victim = next((w for w in workers if _connected_to(w.pid, server_port)), None)
        if victim is not None:
            victim.kill()
            killed.append(victim.pid)

    killer = threading.Thread(target=kill_a_sending_worker, daemon=True)
    killer.start()
    env = pipeline_env(workspace, **server.env(), WORKBENCH_DASK_SCHEDULER=address, WORKBENCH_DASK_MIN_ITEMS=1,
                       WORKBENCH_LLM_RPM=0, WORKBENCH_LLM_TPM=0, WORKBENCH_LLM_BATCH_SIZE=2)
    result = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "--quiet", "--synthetic", "160",
                             "--seed", "5", "--llm", "openai"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900, stdin=subprocess.DEVNULL)
    killer.join(timeout=5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert killed, "no worker was killed: no worker was talking to the LLM endpoint after the Nth request"
    requests_at_kill = KILL_AFTER_REQUESTS
    received = [r.body for r in server.chat_requests()]
    assert len(received) > requests_at_kill, "the run made no request after the kill"
    assert sum(1 for w in workers if w.poll() is None) == 1

    con = duckdb.connect(str(workspace.db_path), read_only=True)
    try:
        run_id = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        feedback = con.execute("SELECT count(*) FROM feedback").fetchone()[0]
        analysed = con.execute("SELECT feedback_id, count(*) FROM feedback_analysis WHERE run_id = ? GROUP BY 1",
                               [run_id]).fetchall()
        predicted = con.execute("SELECT customer_id, count(*) FROM predictions WHERE run_id = ? GROUP BY 1",
                                [run_id]).fetchall()
        scorable = con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchone()[0]
        actioned = con.execute("SELECT customer_id, count(*) FROM actions WHERE run_id = ? GROUP BY 1",
                               [run_id]).fetchall()
        egress = con.execute("SELECT payload, outcome FROM llm_egress WHERE run_id = ?", [run_id]).fetchall()
        statuses = dict(con.execute("SELECT status, count(*) FROM feedback_analysis WHERE run_id = ? GROUP BY 1",
                                    [run_id]).fetchall())
    finally:
        con.close()

    # Every feedback and every customer exactly once.
    assert len(analysed) == feedback and all(n == 1 for _, n in analysed)
    assert scorable and all(n == 1 for _, n in predicted)
    assert actioned and all(n == 1 for _, n in actioned)
    assert statuses.get("ok", 0) > 0
    # Nothing reached the server twice; everything that did is recorded exactly once.
    assert max(Counter(received).values()) == 1
    recorded = Counter(payload for payload, _ in egress)
    for body in received:
        assert recorded[body] == 1, "a payload that left is not in llm_egress exactly once"
    # A request recorded but never answered is marked, never left as still sending.
    assert all(outcome != "sending" for _, outcome in egress)
    assert json.loads(received[0])["messages"]  # what was compared is the real request body

    verify = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert verify.returncode == 0, verify.stdout + verify.stderr
