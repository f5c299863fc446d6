"""What a worker of the run's Dask cluster imports and builds before its first task: the stages'
per-customer work (anonymization, the offline analyzer, LLM requests, scoring). The cluster
(cluster.py) knows no stage; the runner and the stage kernels hand it this warm-up
(`cluster.warm_workers_with`), and it runs once per worker of a cluster they start."""
from __future__ import annotations


def warm_up() -> None:
    # Imported here, on the worker: the runner that hands this over stays light.
    from .. import explain, model  # noqa: F401  scoring and drivers (predict's partitions)
    from ..anonymize import anonymize
    from ..llm import local
    from ..llm import partitioned  # noqa: F401  LLM requests

    anonymize("warm-up: Anna Smith, anna@example.com, +44 20 7946 0958")
    local.analyze_one("warm-up: the signal drops")
