"""The command line and the runner with every stage called in this process instead of a kernel.

`run_pipeline.py` starts one papermill kernel per stage; each notebook is a parameters cell and a
call of its stage's `run(params)` (notebooks orchestrate and show, the lib computes). Here the
runner is the real one (lock, run records, audit events, sealed artefacts, manifest, signed head,
dashboard snapshot) and so is every stage; only the kernel is left out, which takes a tiny run
from half a minute to a few seconds. No notebook is written, so no notebook is sealed.

The kernels themselves, and everything a process boundary changes (signals, the DuckDB file
lock, what reaches the terminal), are proven on real runs: the built workspaces
(tests/workspaces.py) and the slow tests that start `run_pipeline.py`.

    result = cli("--customers", path, "--llm", "openai")   # like subprocess.run(...): returncode, stdout, stderr
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import time
from pathlib import Path
from unittest import mock

from churn_workbench import cli as _cli
from churn_workbench import pipeline
from churn_workbench.errors import exit_code_for_name
from churn_workbench.stages.params import for_stage

_STAGE_MODULES = {"ingest": "ingest", "feedback": "feedback", "train": "train", "predict": "predict", "act": "act"}


def execute_stage_here(stage: str, index: int, params: dict, run_dir: Path, progress: bool, echo=print,
                       label: str | None = None, kernels=None, ahead=()):
    """pipeline.execute_stage, without the kernel: the stage's own `run(params)` in this process
    (no kernel is taken from `kernels`, nor started `ahead`)."""
    import importlib
    module = importlib.import_module(f"churn_workbench.stages.{_STAGE_MODULES[stage]}")
    notebook = run_dir / f"{index:02d}_{stage}.ipynb"   # never written here
    started = time.monotonic()
    try:
        module.run(for_stage(stage, params))
    except Exception as exc:  # noqa: BLE001 - as papermill reports a cell's exception: by class name
        return pipeline.StageResult(stage, "failed", time.monotonic() - started, notebook,
                                    f"{type(exc).__name__}: {exc}", exit_code_for_name(type(exc).__name__))
    return pipeline.StageResult(stage, "succeeded", time.monotonic() - started, notebook)


@contextlib.contextmanager
def stages_in_process():
    """Within this block, the runner calls each stage in this process."""
    with mock.patch.object(pipeline, "execute_stage", execute_stage_here):
        yield


def cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """`run_pipeline.py *args` in this process (stages included): exit code, stdout and stderr.

    `env` is applied for the call only; so are the variables the command line itself sets
    (an LLM profile) and the signal handler it installs."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        with mock.patch.dict(os.environ, {k: str(v) for k, v in (env or {}).items()}), stages_in_process(), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _cli.main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    return subprocess.CompletedProcess(["run_pipeline.py", *argv], code, out.getvalue(), err.getvalue())
