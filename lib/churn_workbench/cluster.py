"""The per-customer work on Dask: one cluster per run, partitions by customer.

One code path from a laptop to many machines (the `dask.distributed` model). The runner starts a
`LocalCluster` sized to the machine once per run, or uses the scheduler named by
`WORKBENCH_DASK_SCHEDULER`, and hands the address to the stage kernels through the environment
(never as a notebook parameter). A kernel connects with `Client(address)` and maps a function
over partitions of its items, partitioned by a hash of the canonical customer id, so one
customer's items always travel together. Results come back to the kernel, which stays the single
DuckDB writer: workers never open the database.

Small steps (fewer than `WORKBENCH_DASK_MIN_ITEMS` items) never touch the cluster: they run in
the kernel, with no start-up or transfer cost.

Faults: a partition's data travels inside its task (never scattered to one worker), so when a
worker dies the scheduler runs the partition again elsewhere: a retry, not a lost row. A mapped
function must therefore be safe to run twice -- pure functions are; LLM requests ask the
journal first (llm/partitioned.py).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from . import config
from .config import Settings

# A partition is the unit of retry and of load balance: a few per worker thread, so a slow or
# lost one is a small part of the stage, and none so small that task overhead dominates.
PARTITIONS_PER_THREAD = 4
MIN_PARTITION_ITEMS = 2_000
LOCAL_PROGRESS_SLICE = 500  # items per call when a step that reports progress runs in the kernel
CONNECT_TIMEOUT_S = 60  # a kernel may start while the run's local cluster is still coming up

_clients: dict[str, object] = {}
_steps: list[dict] = []  # what ran where in this process since the last steps_run() (for the audit trail)
_own_cluster = None
_lock = threading.Lock()
_warm_up: Callable[[], None] | None = None  # what a new worker runs first (warm_workers_with)


def warm_workers_with(warm_up: Callable[[], None] | None) -> None:
    """What each worker of a local cluster started in this process runs before its first task:
    the imports and tables of the work it will be given. The stages know that work; the cluster
    does not (stages/workers.py hands it over)."""
    global _warm_up
    _warm_up = warm_up


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def partition_numbers(customer_ids: Sequence, n_partitions: int) -> np.ndarray:
    """Partition of each customer id: a stable hash of its text mod n_partitions (the same id
    lands in the same partition in every process and every run)."""
    ids = pd.Series(customer_ids, dtype=object).astype(str).to_numpy(dtype=object)
    if n_partitions <= 1 or not len(ids):
        return np.zeros(len(ids), dtype=np.int64)
    return (pd.util.hash_array(ids, categorize=True) % np.uint64(n_partitions)).astype(np.int64)


def partition_count(n_items: int, n_threads: int) -> int:
    return max(1, min(max(1, n_threads) * PARTITIONS_PER_THREAD, -(-n_items // MIN_PARTITION_ITEMS)))


def split(customer_ids: Sequence, n_partitions: int) -> list[np.ndarray]:
    """Positions of the items of each non-empty partition, in input order within a partition."""
    parts = partition_numbers(customer_ids, n_partitions)
    order = np.argsort(parts, kind="stable")
    bounds = np.flatnonzero(np.diff(parts[order])) + 1
    return [g for g in np.split(order, bounds) if len(g)]


# ---------------------------------------------------------------------------- the kernel's side

def client_for(settings: Settings, n_items: int):
    """A client of the run's cluster when `n_items` is worth distributing, else None (run here)."""
    if n_items < max(1, settings.dask_min_items):
        return None
    return connect(settings)


def connect(settings: Settings):
    """Client of the scheduler in WORKBENCH_DASK_SCHEDULER (one per process and address). Without
    one -- a notebook opened by hand, no runner -- a local cluster of this process is started."""
    from distributed import Client

    address = settings.dask_scheduler or _process_cluster(settings)
    with _lock:
        client = _clients.get(address)
        if client is None or client.status not in ("running", "connecting"):
            client = _clients[address] = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    return client


def disconnect() -> None:
    """Close this process's clients (before their cluster goes away, so none waits to reconnect)."""
    with _lock:
        for client in _clients.values():
            with contextlib.suppress(Exception):
                client.close()
        _clients.clear()


def threads(client) -> int:
    """Worker threads the cluster has now (each runs one partition at a time); waits for a first
    worker, since a kernel may connect while the run's cluster is still starting its workers."""
    if not client.nthreads():
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    return max(1, sum(client.nthreads().values()))


def _process_cluster(settings: Settings) -> str:
    global _own_cluster
    with _lock:
        if _own_cluster is None:
            _own_cluster = start_local_cluster(settings)
    return _own_cluster.scheduler_address


def steps_run() -> list[dict]:
    """The distributed steps since the last call: function, items, partitions, workers (the stage
    records them in its audit trail, so a run shows where its per-customer work ran)."""
    with _lock:
        steps = list(_steps)
        _steps.clear()
    return steps


def record_steps(audit) -> None:
    """Add an audit event `cluster_work` listing the distributed steps since the last record, if any."""
    steps = steps_run()
    if steps:
        audit.event("cluster_work", steps=steps)


def note(fn, n_items: int, n_partitions: int, client) -> None:
    with _lock:
        _steps.append({"step": getattr(fn, "__name__", str(fn)), "items": int(n_items), "partitions": int(n_partitions),
                       "workers": len(client.nthreads()), "scheduler": client.scheduler.address})


def map_partitions(fn: Callable[..., list], items: Sequence, customer_ids: Sequence, settings: Settings,
                   *args, client=None, on_progress: Callable[[int], None] | None = None) -> list:
    """[fn(partition, *args) ...] flattened back into input order: fn takes a list of items and
    returns one result per item. Runs here when there are few items or no client is given and
    none is worth connecting to; else one task per partition of customers on the cluster.
    on_progress(n): called with the number of items done, as slices (here) or partitions finish."""
    items = list(items)
    if client is None:
        client = client_for(settings, len(items))
    if client is None or not items:
        if on_progress is None:
            return list(fn(items, *args)) if items else []
        results = []
        for start in range(0, len(items), LOCAL_PROGRESS_SLICE):  # slices, so progress is live here too
            part = list(fn(items[start:start + LOCAL_PROGRESS_SLICE], *args))
            results.extend(part)
            on_progress(len(part))
        return results
    groups = split(customer_ids, partition_count(len(items), threads(client)))
    note(fn, len(items), len(groups), client)
    results = [None] * len(items)
    for number, out in run_tasks(client, fn, [[items[i] for i in g] for g in groups], *args):
        positions = groups[number]
        if len(out) != len(positions):
            raise RuntimeError(f"{getattr(fn, '__name__', fn)} returned {len(out)} results for {len(positions)} items")
        for i, r in zip(positions, out):
            results[i] = r
        if on_progress is not None:
            on_progress(len(positions))
    return results


def map_frames(fn: Callable[..., pd.DataFrame], frame: pd.DataFrame, settings: Settings, *args) -> pd.DataFrame:
    """fn(part, *args) over row partitions of `frame` (indexed by customer id), concatenated back
    in the frame's row order; fn returns a frame with the part's index. In this process for a
    small frame."""
    client = client_for(settings, len(frame))
    if client is None or frame.empty:
        return fn(frame, *args)
    groups = split(frame.index, partition_count(len(frame), threads(client)))
    note(fn, len(frame), len(groups), client)
    parts: list[pd.DataFrame | None] = [None] * len(groups)
    for number, out in run_tasks(client, fn, [frame.iloc[g] for g in groups], *args):
        parts[number] = out.set_axis(groups[number])
    return pd.concat(parts).sort_index().set_axis(frame.index)


def run_tasks(client, fn: Callable, chunks: list, *args) -> Iterator[tuple[int, object]]:
    """(chunk number, fn(chunk, *args)) as tasks finish. Every chunk is submitted at once (there
    are a few per worker thread): the scheduler hands the next one to whichever worker is free
    (a bounded window of submissions left a worker idle while the other had a queue). A task
    whose worker died is run again by the scheduler on another worker."""
    from distributed import as_completed

    state = stage_state()
    with _quiet_large_graph_warning():
        futures = [client.submit(in_stage_state, state, fn, chunk, *args, pure=False) for chunk in chunks]
        numbers = {future.key: number for number, future in enumerate(futures)}
        for future in as_completed(futures, loop=client.loop):
            result = future.result()
            future.release()
            yield numbers[future.key], result


def stage_state() -> dict:
    """What a worker must share with the stage's kernel for a task to give the kernel's answer:
    the egress allow rule's settings and the data owner's allow-list, which the kernel installed
    from the store (a worker started before it, or on another machine, has neither)."""
    from .egress import allow, vocabulary

    return {"egress_rules": allow.rules(), "owner_words": vocabulary.owner_words()}


def in_stage_state(state: dict, fn: Callable, chunk, *args):
    """A task on a worker: fn(chunk, *args) under the stage's `state` (installed when it differs)."""
    from .egress import allow, vocabulary

    if allow.rules() != state["egress_rules"]:
        allow.configure(state["egress_rules"])
    vocabulary.use_owner_words(state["owner_words"])
    return fn(chunk, *args)


@contextlib.contextmanager
def _quiet_large_graph_warning():
    # A partition's data inside its task is deliberate (see the module docstring).
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*large graph.*")
        yield


# ---------------------------------------------------------------------------- the runner's side

def start_local_cluster(settings: Settings, port: int = 0):
    """A LocalCluster on 127.0.0.1 with one single-threaded worker process per CPU (the work is
    pure Python: threads would share one interpreter lock), each warmed (`warm_workers_with`)."""
    import dask
    from distributed import LocalCluster

    dask.config.refresh()  # the DASK_* variables the run set (config.DASK_ENV)

    workers = settings.dask_workers or cpu_count()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           scheduler_port=port, dashboard_address=None, silence_logs=logging.ERROR,
                           # No dashboard; the scheduler's small HTTP endpoint on a free loopback port.
                           scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
    if _warm_up is not None:
        with contextlib.suppress(Exception):  # warming is an optimisation, never a failure
            from distributed import Client
            with Client(cluster, set_as_default=False) as client:
                client.run(_warm_up)
    return cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def for_run(settings: Settings, expected_items: int | None, echo=print) -> Iterator[str | None]:
    """The run's cluster, shared by its stage kernels: the scheduler named by the settings, or a
    LocalCluster started here -- in the background, so it comes up while the first stage runs --
    and closed when the run ends. None when the run is known to be small (`expected_items` below
    WORKBENCH_DASK_MIN_ITEMS): then every step runs in its kernel."""
    if settings.dask_scheduler:
        yield settings.dask_scheduler
        return
    if expected_items is not None and expected_items < max(1, settings.dask_min_items):
        yield None
        return
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    previous = config.export_scheduler(address)
    started: dict = {}

    def start() -> None:
        # Ctrl-C at the terminal reaches every process of its group: the worker processes (which
        # inherit this thread's signal mask) leave it to the runner, which closes the cluster.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            started["cluster"] = start_local_cluster(settings, port)
        except Exception as exc:  # noqa: BLE001 - reported; kernels then fail to connect, loudly
            started["error"] = exc

    thread = threading.Thread(target=start, name="local-dask-cluster", daemon=True)
    thread.start()
    try:
        yield address
    finally:
        config.restore_env(previous)
        thread.join()
        cluster = started.get("cluster")
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)
        if "error" in started:
            echo(f"warning: the local Dask cluster did not start: {type(started['error']).__name__}: {started['error']}")
