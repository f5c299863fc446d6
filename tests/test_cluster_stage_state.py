"""A task on a cluster worker decides as the stage's kernel would: it runs under the kernel's
egress allow-rule settings and the data owner's allow-list (which the kernel installed from the
store, and a worker process never saw), so a word the owner allowed is kept on a worker too."""
from __future__ import annotations

import pytest

from churn_workbench import cluster, config
from churn_workbench.anonymize import anonymize_pairs
from churn_workbench.egress import allow, vocabulary

TEXT = "The Quexaplan tariff was far too expensive for me"


@pytest.fixture
def owner_words():
    """The data owner's list of this process, restored afterwards."""
    before, rules = vocabulary.owner_words(), allow.rules()
    yield vocabulary.set_owner_words
    vocabulary.use_owner_words(before)
    allow.configure(rules)


def test_a_task_runs_under_the_state_it_was_sent_with(owner_words):
    owner_words(["Quexaplan"])
    state = cluster.stage_state()
    owner_words([])
    allow.configure(allow.Rules(min_zipf=5.0))
    assert "<WORD_" in anonymize_pairs([(TEXT, None)])[0].text
    out = cluster.in_stage_state(state, anonymize_pairs, [(TEXT, None)])
    assert out[0].text == TEXT
    assert allow.rules() == state["egress_rules"] and "quexaplan" in vocabulary.owner_words()


def test_progress_is_reported_for_every_item_in_the_kernel_too():
    settings = config.load_settings(dask_min_items=10_000)
    done: list[int] = []
    items = list(range(cluster.LOCAL_PROGRESS_SLICE * 2 + 7))
    out = cluster.map_partitions(lambda xs: [x + 1 for x in xs], items, items, settings, on_progress=done.append)
    assert out == [x + 1 for x in items]
    assert sum(done) == len(items) and len(done) == 3


@pytest.mark.slow
def test_a_worker_keeps_the_word_the_owner_allowed(owner_words):
    local_cluster = cluster.start_local_cluster(config.load_settings(dask_workers=1))
    try:
        settings = config.load_settings(dask_min_items=1, dask_scheduler=local_cluster.scheduler_address)
        owner_words(["Quexaplan"])  # after the worker started: it never inherited the list
        pairs = [(f"{TEXT} (case {i})", None) for i in range(50)]
        done: list[int] = []
        out = cluster.map_partitions(anonymize_pairs, pairs, [f"C{i}" for i in range(50)], settings,
                                     on_progress=done.append)
        assert out == anonymize_pairs(pairs)
        assert all("Quexaplan" in r.text for r in out)
        assert sum(done) == len(pairs)
    finally:
        cluster.disconnect()
        local_cluster.close()
