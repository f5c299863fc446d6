"""Each stage's parameters, declared once.

The runner passes these to papermill (so they are written into the executed notebook: never a
secret here), each notebook's `parameters` cell lists the same names with the same defaults (a
test compares them), and each stage's `run(params)` takes the dataclass. Empty strings mean
"not given": the notebook then works on the default database as an interactive run.

Every value is checked at the boundary (`check`): by the command line for every stage before
the first one starts, and again when a notebook builds its parameters (`from_namespace`), so a
value set by hand in JupyterLab meets the same rules. A bad value is a one-line UsageError
naming the parameter (or, from the command line, its flag).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from ..boundary import paths
from ..boundary.name_lists import comma_names
from ..boundary.options import refuse_empty
from ..boundary.paired import check_backend, check_column_list, check_control_share
from ..boundary.run_ids import check_run_id
from ..errors import UsageError
from ..vocab import RETRAIN_CHOICES, SEGMENTS


@dataclass
class StageParams:
    stage: ClassVar[str] = ""
    db_path: str = ""   # empty: the settings' database (WORKBENCH_DB or data/workbench.duckdb)
    run_id: str = ""    # empty: an interactive run (a notebook opened by hand)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def taken_from(cls, values: Mapping[str, Any]):
        """Build from any mapping: names the stage does not declare are ignored, missing ones
        take the default. Not checked yet (`check`)."""
        return cls(**{name: values[name] for name in cls.names() if name in values})

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """Build from a notebook's globals (the values its parameters cell set), checked."""
        return cls.taken_from(namespace).check()

    def as_papermill(self) -> dict:
        return dataclasses.asdict(self)

    def check(self, named: Callable[[str], str] = lambda name: f"parameter {name}"):
        """Every value's type and range (see the module docstring); returns self.
        `named(field)` is how a message names the value (a notebook parameter, a flag)."""
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            ok = isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
            if isinstance(value, bool) and kind is not bool:
                ok = False
            if not ok:
                raise UsageError(f"{named(f.name)} = {value!r}: expected {kind.__name__}")
            # The command line's rule for an empty value: blank is refused; "" means "not given"
            # only where the default is "" too (elsewhere it would silently mean something else,
            # e.g. no action segment at all instead of the default ones).
            if kind is str and (value or f.default):
                refuse_empty(named(f.name), value)
        if self.run_id:
            check_run_id(self.run_id, named("run_id"))
        if self.db_path:
            paths.database_file(self.db_path, named("db_path"))
        self._check(named)
        return self

    def _check(self, named: Callable[[str], str]) -> None:
        """The stage's own rules (ranges, known names)."""

    def check_inputs(self) -> None:
        """The contents of the stage's input files, read and checked without writing anything
        (InputError naming the file, row or column). Every entry point calls it before its first
        write: the command line before the lock file, a stage run by hand before its run record,
        database or subject key are made (context.open_stage). Most stages read no files."""


# Upper bounds: far beyond any real use, low enough that a typo fails here in one line rather
# than deep in a stage with an engine's overflow message.
MAX_SYNTHETIC = 10_000_000
MAX_TRAIN_ROWS = 1_000_000_000


@dataclass
class IngestParams(StageParams):
    stage: ClassVar[str] = "ingest"
    synthetic_n: int = 1000      # used when customers_path is empty
    seed: int = 42
    customers_path: str = ""
    feedback_path: str = ""
    consent_path: str = ""
    data_config_path: str = ""

    def _check(self, named):
        if not 1 <= self.synthetic_n <= MAX_SYNTHETIC:
            raise UsageError(f"{named('synthetic_n')} {self.synthetic_n}: needs a positive number of customers, "
                             f"at most {MAX_SYNTHETIC:,}")
        _seed(self.seed, named)
        for name in ("customers_path", "feedback_path", "consent_path", "data_config_path"):
            value = getattr(self, name)
            if value:
                paths.input_file(value, named(name))
        if (self.feedback_path or self.consent_path or self.data_config_path) and not self.customers_path:
            raise UsageError(f"{named('feedback_path')}, {named('consent_path')} and {named('data_config_path')} "
                             f"need {named('customers_path')}")

    def check_inputs(self) -> None:
        if self.customers_path:
            from ..inputs.load import load_inputs  # the heavy stack, only when there are files to read
            load_inputs(0, 0, self.customers_path, self.feedback_path, self.consent_path, self.data_config_path)


@dataclass
class FeedbackParams(StageParams):
    stage: ClassVar[str] = "feedback"
    llm_provider: str = ""       # empty: WORKBENCH_LLM or "local"

    def _check(self, named):
        _provider(self.llm_provider, named)


@dataclass
class TrainParams(StageParams):
    stage: ClassVar[str] = "train"
    seed: int = 42
    max_train_rows: int = 200_000    # a larger labelled set is sampled down to this many rows
    allow_columns: str = ""          # comma-separated columns the leakage guard must keep
    retrain: str = "auto"            # "auto": the retraining policy decides; "always": train a new model

    def _check(self, named):
        _seed(self.seed, named)
        if self.retrain not in RETRAIN_CHOICES:
            raise UsageError(f"{named('retrain')} {self.retrain!r}: needs one of {', '.join(RETRAIN_CHOICES)}")
        check_column_list(self.allow_columns, named("allow_columns"))
        if not 1 <= self.max_train_rows <= MAX_TRAIN_ROWS:
            raise UsageError(f"{named('max_train_rows')} {self.max_train_rows}: needs a positive number of rows, "
                             f"at most {MAX_TRAIN_ROWS:,}")


@dataclass
class PredictParams(StageParams):
    stage: ClassVar[str] = "predict"


@dataclass
class ActParams(StageParams):
    stage: ClassVar[str] = "act"
    llm_provider: str = ""           # empty: WORKBENCH_LLM or "local"
    action_segments: str = "High,Medium"
    control_share: float = -1.0      # exactly -1: WORKBENCH_CONTROL_SHARE
    seed: int = 42

    def _check(self, named):
        _provider(self.llm_provider, named)
        _seed(self.seed, named)
        unknown = sorted(set(comma_names(self.action_segments, named("action_segments"), "segment name")) - set(SEGMENTS))
        if unknown:
            raise UsageError(f"{named('action_segments')} {self.action_segments!r}: unknown segment(s) "
                             f"{', '.join(unknown)}; choose from {','.join(SEGMENTS)}")
        # Only the default itself means "the setting": any other negative (-0.5 typed for 0.5)
        # is a slip that would silently run with another share.
        if self.control_share != -1:
            check_control_share(self.control_share, named("control_share"))


def _seed(seed: int, named) -> None:
    if not 0 <= seed < 2**32:
        raise UsageError(f"{named('seed')} {seed}: a seed is a whole number from 0 to 4294967295")


def _provider(name: str, named) -> None:
    check_backend(name, named("llm_provider"))


PARAMS: dict[str, type[StageParams]] = {p.stage: p for p in
                                        (IngestParams, FeedbackParams, TrainParams, PredictParams, ActParams)}


def for_stage(stage: str, values: Mapping[str, Any]) -> StageParams:
    """The stage's parameters taken from the run's values (which hold every stage's); unchecked."""
    return PARAMS[stage].taken_from(values)
