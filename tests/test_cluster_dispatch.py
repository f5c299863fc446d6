"""Per-customer work on Dask (cluster.py): partitions by customer, results back in input order,
small batches in the caller's process, and the same answers on a real local cluster."""
from __future__ import annotations

import numpy as np
import pytest

from churn_workbench import cluster, config
from churn_workbench.anonymize import KnownIdentifiers, anonymize_pairs
from churn_workbench.llm import local


def test_partition_of_a_customer_is_stable_and_covers_every_item():
    ids = [f"C{i % 37:04d}" for i in range(500)]
    parts = cluster.partition_numbers(ids, 8)
    assert parts.min() >= 0 and parts.max() < 8
    assert np.array_equal(parts, cluster.partition_numbers(list(reversed(ids)), 8)[::-1])
    groups = cluster.split(ids, 8)
    assert sorted(int(i) for g in groups for i in g) == list(range(500))
    for g in groups:  # one customer never spans two partitions
        assert len({parts[i] for i in g}) == 1
    owner = {}
    for n, g in enumerate(groups):
        for i in g:
            assert owner.setdefault(ids[i], n) == n


def test_partition_count_is_a_few_per_thread_and_never_tiny():
    assert cluster.partition_count(100, 2) == 1
    assert cluster.partition_count(1_000_000, 2) == 2 * cluster.PARTITIONS_PER_THREAD
    assert cluster.partition_count(5_000, 16) == 3


def test_small_batches_run_here_without_a_cluster(monkeypatch):
    settings = config.load_settings(dask_min_items=1000, dask_scheduler="tcp://127.0.0.1:9")  # nothing listens
    monkeypatch.setattr(cluster, "connect", lambda s: pytest.fail("a small batch connected to the cluster"))
    assert cluster.map_partitions(lambda xs: [x * 2 for x in xs], [1, 2, 3], ["a", "b", "a"], settings) == [2, 4, 6]


@pytest.mark.slow
def test_local_cluster_gives_the_serial_answers_in_input_order():
    settings = config.load_settings(dask_min_items=1, dask_workers=2)
    local_cluster = cluster.start_local_cluster(settings)
    try:
        settings = config.load_settings(dask_min_items=1, dask_scheduler=local_cluster.scheduler_address)
        anna = KnownIdentifiers(name="Anna Schmidt", email="anna@example.com", phone=None, extra=("C7",))
        pairs = [(f"Anna Schmidt (C7) wrote from x{i}@example.com: bill {i} is wrong", anna if i % 3 else None)
                 for i in range(3000)]
        ids = [f"C{i % 211}" for i in range(3000)]
        assert cluster.map_partitions(anonymize_pairs, pairs, ids, settings) == anonymize_pairs(pairs)
        texts = [f"Case {i}: no signal and the bill is wrong" if i % 2 else f"Thanks, great app {i}" for i in range(3000)]
        assert local.analyze_texts(texts, settings).equals(local.analyze_texts(texts))
    finally:
        cluster.disconnect()
        local_cluster.close()


def test_the_journal_server_tells_a_retried_partition_what_may_have_left():
    """What a partition asks before it sends: answered items come back, items of a request that
    was recorded but never answered are in doubt (never resent), the rest are free to send."""
    from churn_workbench.audit import AuditLog
    from churn_workbench.llm.partitioned import _Distributed

    kept = []
    server = _Distributed(client=None, engine_kwargs={"audit": AuditLog("r", "feedback"), "journal": None,
                                                      "on_ok": kept.extend, "progress": None})
    assert server._handle({"op": "begin", "keys": ["a", "b", "c"]}) == {"answered": {}, "in_doubt": []}
    server._handle({"op": "before_send", "keys": ["a", "b"], "row": {}, "mode": "json_schema", "events": []})
    server._handle({"op": "answered", "results": [("a", {"sentiment": 0.5})]})
    assert [it.key for it in kept] == ["a"]
    assert server._handle({"op": "begin", "keys": ["a", "b", "c"]}) == {"answered": {"a": {"sentiment": 0.5}},
                                                                       "in_doubt": ["b"]}


def test_a_partition_gets_its_share_of_the_limits():
    from churn_workbench.llm.partitioned import _share

    settings = config.load_settings(llm_requests_per_minute=30, llm_tokens_per_minute=6000, llm_concurrency=4,
                                    llm_max_requests=2000, llm_max_tokens=500_000)
    part = _share(settings, n_threads=2, n_partitions=8)
    assert (part.llm_requests_per_minute, part.llm_tokens_per_minute, part.llm_concurrency) == (15, 3000, 2)
    assert (part.llm_max_requests, part.llm_max_tokens) == (250, 62_500)
    assert part.llm_fallback_threshold == 1.0  # the kernel judges the stage as a whole
