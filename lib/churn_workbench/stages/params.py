"""Each stage's parameters, declared once.

The runner passes these to papermill (so they are written into the executed notebook: never a
secret here), each notebook's `parameters` cell lists the same names with the same defaults (a
test compares them), and each stage's `run(params)` takes the dataclass. Empty strings mean
"not given": the notebook then works on the default database as an interactive run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping


@dataclass
class StageParams:
    stage: ClassVar[str] = ""
    db_path: str = ""   # empty: the settings' database (WORKBENCH_DB or data/workbench.duckdb)
    run_id: str = ""    # empty: an interactive run (a notebook opened by hand)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """Build from a notebook's globals (the values its parameters cell set) or any mapping;
        names the stage does not declare are ignored, missing ones take the default."""
        return cls(**{name: namespace[name] for name in cls.names() if name in namespace})

    def as_papermill(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class IngestParams(StageParams):
    stage: ClassVar[str] = "ingest"
    synthetic_n: int = 1000      # used when customers_path is empty
    seed: int = 42
    customers_path: str = ""
    feedback_path: str = ""
    consent_path: str = ""
    data_config_path: str = ""


@dataclass
class FeedbackParams(StageParams):
    stage: ClassVar[str] = "feedback"
    llm_provider: str = ""       # empty: WORKBENCH_LLM or "local"


@dataclass
class TrainParams(StageParams):
    stage: ClassVar[str] = "train"
    seed: int = 42
    max_train_rows: int = 200_000    # a larger labelled set is sampled down to this many rows
    allow_columns: str = ""          # comma-separated columns the leakage guard must keep


@dataclass
class PredictParams(StageParams):
    stage: ClassVar[str] = "predict"


@dataclass
class ActParams(StageParams):
    stage: ClassVar[str] = "act"
    llm_provider: str = ""           # empty: WORKBENCH_LLM or "local"
    action_segments: str = "High,Medium"
    control_share: float = -1.0      # negative: WORKBENCH_CONTROL_SHARE
    seed: int = 42


PARAMS: dict[str, type[StageParams]] = {p.stage: p for p in
                                        (IngestParams, FeedbackParams, TrainParams, PredictParams, ActParams)}


def for_stage(stage: str, values: Mapping[str, Any]) -> StageParams:
    """The stage's parameters taken from the run's values (which hold every stage's)."""
    return PARAMS[stage].from_namespace(values)
