"""Stage kernels started ahead: the next stage's kernel boots and imports while the current one runs.

Starting a kernel and importing pandas, scikit-learn, LightGBM and Presidio costs each stage
seconds before its first line runs. The runner asks for the next stage's kernel as soon as the
current stage starts; the kernel process then starts and runs the stage's imports (IPython's
`exec_lines`, before the kernel reports ready) in parallel with the current stage. papermill
then executes the notebook on that kernel: it passes `km` through to nbclient, which uses a
kernel manager whose kernel is already running instead of starting one (and leaves stopping it
to us).

The kernel inherits this process's environment at the moment it starts (e.g. the run's Dask
scheduler address), so kernels are asked for only inside the run's cluster context.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
import sys
from pathlib import Path

from jupyter_core.utils import run_sync

# What each stage's notebook imports first, and what builds slowly on first use.
_COMMON = ["import json", "import pandas", "from IPython.display import Markdown, display"]
# Every stage after the ingest checks consent, whose SQL folds look-alike characters: the fold
# table takes a second to build, once per kernel, so it is built ahead too.
_CONSENT = "from churn_workbench.boundary.customer_ids import match_key_sql as _m; _m('x'); del _m"
WARM_UP = {
    "ingest": ["import churn_workbench.stages.ingest"],
    "feedback": ["import matplotlib.pyplot", "import churn_workbench.stages.feedback", _CONSENT,
                 "from churn_workbench.anonymize import anonymize as _a; _a('warm-up: Anna Smith, +44 20 7946 0958'); del _a"],
    "train": ["import churn_workbench.stages.train", "import churn_workbench.embed", _CONSENT],
    "predict": ["import matplotlib.pyplot", "import churn_workbench.stages.predict", _CONSENT],
    # The catalogue's policy check loads the output guard's detectors: done here, ahead, for a
    # run that proposes actions (one that proposes none never asks for it).
    "act": ["import churn_workbench.stages.act", _CONSENT,
            "from churn_workbench.llm.policy import load_catalogue as _c; _c(); del _c"],
}


def _die_with_parent_hook():
    """A function for the kernel's child side of fork (Linux): the kernel is killed the moment
    the process that started it dies, as a crash of the runner must end its stage's work at
    once -- a kernel left behind would keep the database locked against the resume, and its
    parent poller (once a second) would notice only later. Resolved here, before any fork: the
    hook itself only calls prctl, as code between fork and exec must."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError, TypeError):
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
        pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)
        return lambda: prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)
    return None


_DIE_WITH_PARENT = _die_with_parent_hook()


class Prestarter:
    """Kernels for named stages, started on request and handed out once each."""

    def __init__(self, manager_class, kernel_name: str, cwd: Path):
        self.manager_class, self.kernel_name, self.cwd = manager_class, kernel_name, cwd
        self._ready: dict[str, object] = {}

    def start(self, stage: str) -> None:
        """Start the stage's kernel now (returns once the process is launched, not when it is ready)."""
        if stage in self._ready:
            return
        km = self.manager_class(kernel_name=self.kernel_name)
        lines = _COMMON + WARM_UP.get(stage, [])
        # The same history setting nbclient gives a kernel it starts; exec_lines run before "ready".
        extra = ["--HistoryManager.hist_file=:memory:", f"--IPKernelApp.exec_lines={lines!r}"]
        launch = {"preexec_fn": _DIE_WITH_PARENT} if _DIE_WITH_PARENT is not None else {}
        run_sync(km.start_kernel)(extra_arguments=extra, cwd=str(self.cwd), **launch)
        self._ready[stage] = km

    def take(self, stage: str):
        """The stage's kernel manager (started now if it was not asked for ahead)."""
        self.start(stage)
        return self._ready.pop(stage)

    @staticmethod
    def stop(km, now: bool = False) -> None:
        """Stop a kernel. `now`: kill it without the shutdown handshake (a kernel whose notebook has
        finished holds nothing that needs closing: every database session of a stage is closed)."""
        with contextlib.suppress(Exception):
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=now)
        with contextlib.suppress(Exception):
            run_sync(km.cleanup_resources)()

    def close(self) -> None:
        """Stop kernels started for stages that never ran (a failed or interrupted run)."""
        for km in self._ready.values():
            self.stop(km)
        self._ready.clear()
