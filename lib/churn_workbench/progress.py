"""Live progress of a run: one line that says what the running stage is doing, with counts, rate
and time left where the work is countable.

A stage runs in a papermill kernel whose output the runner does not show, so a stage reports
its long steps as small JSON records (counts only, never text or ids) appended to the run's
progress file beside the database (the file the LLM engine reports to, `llm/progress.py`):

    with ctx.step("anonymizing texts", total=len(texts), unit="texts") as step:
        ...; step.advance(len(batch))

The runner follows that file while the stage runs (`following`) and shows the newest state:
on a terminal as a line rewritten in place, in JupyterLab (a run started from a notebook with
`churn_workbench.run`) as an output updated in place, and elsewhere (a log, cron, CI) only
the LLM lines it always printed, every few seconds. A stage notebook opened by hand in
JupyterLab shows its own steps the same way in its cell output.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .errors import WorkbenchError
from .llm import progress as llm_progress

UPDATE_INTERVAL_S = 0.5     # how often a step writes its counts, and the live line is redrawn
LOG_INTERVAL_S = 5.0        # how often the LLM lines are printed when there is no live line


# --------------------------------------------------------------------------------------------
# the stage's side: steps
# --------------------------------------------------------------------------------------------

class Step:
    """One long step of a stage. `advance(n)` counts work done; the counts are written at most
    every UPDATE_INTERVAL_S (to the progress file, or to a notebook line when interactive)."""

    def __init__(self, task: str, total: int | None, unit: str, stage: str, sink: Callable[[dict], None]):
        self.task, self.total, self.unit, self.stage, self._sink = task, total, unit, stage, sink
        self.done = 0
        self._started = self._last = time.monotonic()
        self._first: tuple[float, int] | None = None  # (when, how many) the first work was counted
        self._lock = threading.Lock()

    def _record(self, event: str) -> dict:
        now = time.monotonic()
        record = {"kind": "step", "event": event, "stage": self.stage, "task": self.task, "unit": self.unit,
                  "total": self.total, "done": self.done, "elapsed_s": round(now - self._started, 2), "ts": time.time()}
        if self._first is not None:
            # The rate counts from the first item done, not from the start: set-up time (building
            # an engine, starting worker processes) would otherwise promise hours for seconds of work.
            record["rate_s"], record["rate_done"] = round(now - self._first[0], 3), self.done - self._first[1]
        return record

    def start(self) -> "Step":
        self._sink(self._record("start"))
        return self

    def advance(self, n: int = 1) -> None:
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                self._first = (now, self.done + int(n))
            self.done += int(n)
            if now - self._last < UPDATE_INTERVAL_S:
                return
            self._last = now
        self._sink(self._record("progress"))

    def finish(self) -> None:
        self._sink(self._record("finish"))

    def __enter__(self) -> "Step":
        return self

    def __exit__(self, *exc) -> None:
        self.finish()


def file_sink(db_path: str | Path, run_id: str) -> Callable[[dict], None]:
    target = llm_progress.path(db_path, run_id)

    proven: list[Path] = []

    def write(record: dict) -> None:
        try:
            if not proven:  # proven inside the workspace (never through a link), once
                proven.append(llm_progress.proven_folder(db_path))
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
        except (OSError, WorkbenchError):
            pass  # progress is a convenience: it never fails a stage
    return write


def step(db_path: str | Path, run_id: str, stage: str, task: str, total: int | None = None, unit: str = "items",
         interactive: bool = False) -> Step:
    """A started Step: reported to the runner, or shown in the notebook when the stage runs by hand."""
    if interactive:
        line = live_line(interactive_only=True)
        sink = (lambda r: line.show(describe(r))) if line else (lambda r: None)
    else:
        sink = file_sink(db_path, run_id)
    return Step(task, total, unit, stage, sink).start()


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _counts(done: int, total: int | None, unit: str, rate_done: int, rate_s: float) -> str:
    """`12,000/18,000 texts (67%) · 1,850/s · about 3 s left` (or what of it is known). The rate
    is `rate_done` items in `rate_s` seconds; under a second of counting gives no rate yet."""
    if total:
        parts = [f"{done:,}/{total:,} {unit} ({min(done / total, 1):.0%})"]
    else:
        parts = [f"{done:,} {unit}"] if done else []
    if rate_done > 0 and rate_s >= 1.0:
        rate = rate_done / rate_s
        parts.append(f"{rate:,.0f}/s" if rate >= 10 else f"{rate:,.1f}/s")
        if total and done < total:
            parts.append(f"about {_duration((total - done) / rate)} left")
    return " · ".join(parts)


def describe(record: dict) -> str:
    """One record as the live line's middle part."""
    if record.get("kind") == "step":
        if record.get("event") == "finish":
            return f"{record.get('task')}: done"
        counts = _counts(int(record.get("done") or 0), record.get("total"), record.get("unit") or "items",
                         int(record.get("rate_done") or 0), float(record.get("rate_s") or 0))
        # Before the first item is done the work is being set up (an engine built, workers started).
        starting = " · getting ready" if record.get("total") and not record.get("done") else ""
        return f"{record.get('task')}" + (f" {counts}" if counts else "") + starting
    # An LLM engine record (llm/progress.py): items sent to the model.
    task = f"{record.get('task')} via {record.get('provider')}:{record.get('model')}"
    if record.get("event") == "start":
        return f"{task}: {int(record.get('total') or 0):,} items to send"
    extra = [f"ok {record.get('ok', 0):,}"] + [f"{k} {record[k]:,}" for k in ("fallback", "blocked") if record.get(k)]
    done, elapsed = int(record.get("done") or 0), float(record.get("elapsed_s") or 0)
    return f"{task} " + _counts(done, record.get("total"), "items", done, elapsed) + f" ({', '.join(extra)})"


# --------------------------------------------------------------------------------------------
# the runner's side: a live line
# --------------------------------------------------------------------------------------------

class _TerminalLine:
    """A line on a terminal, rewritten in place (carriage return, erase to end of line)."""

    def __init__(self, stream):
        self.stream = stream
        self.shown = False

    def show(self, text: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        text = text if len(text) < width else text[: width - 2] + "…"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


class _NotebookLine:
    """An output of the running notebook cell, replaced in place (no widget needed)."""

    def __init__(self):
        from IPython.display import Pretty, display
        self._pretty = Pretty
        self.handle = display(Pretty(""), display_id=True)

    def show(self, text: str) -> None:
        self.handle.update(self._pretty(text))

    def clear(self) -> None:
        self.handle.update(self._pretty(""))


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return bool(shell is not None and getattr(shell, "kernel", None) is not None)


def live_line(stream=None, interactive_only: bool = False):
    """Where a live line can be shown: a terminal, or a Jupyter kernel's cell; None otherwise
    (a pipe, a log file, TERM=dumb). A papermill kernel counts as a notebook only for
    `interactive_only` callers, which are stage notebooks run by hand."""
    if _in_notebook():
        return _NotebookLine()
    if interactive_only:
        return None
    stream = stream or sys.stderr
    from .config import env_flag
    if getattr(stream, "isatty", lambda: False)() and env_flag("TERM") != "dumb":
        return _TerminalLine(stream)
    return None


@dataclass
class _State:
    llm: dict | None = None
    step: dict | None = None
    seen_at: float = field(default_factory=time.monotonic)


@contextlib.contextmanager
def following(db_path: str | Path, run_id: str, prefix: str, echo: Callable[[str], None] = print,
              line=None) -> Iterator[None]:
    """While the block runs (a stage), show its newest progress.

    With a live `line` (from `live_line()`): `prefix · what it does now · elapsed`, redrawn every
    UPDATE_INTERVAL_S; finished LLM tasks stay as a line of their own. Without one: the LLM
    lines every LOG_INTERVAL_S, as a log wants them.
    """
    stop = threading.Event()
    offset = llm_progress.read(db_path, run_id)[1]  # only what this stage writes
    started = time.monotonic()
    state = _State()

    def render() -> str:
        current = state.step
        if state.llm and state.llm.get("event") != "finish" and (current is None or state.llm["ts"] >= current["ts"]):
            current = state.llm
        # Until the stage reports, its kernel is starting and importing its libraries.
        doing = describe(current) if current else "starting the stage's Python kernel"
        return f"{prefix} · {doing} · {_duration(time.monotonic() - started)}"

    def loop() -> None:
        nonlocal offset
        interval = UPDATE_INTERVAL_S if line else LOG_INTERVAL_S
        while True:
            finished = stop.wait(interval)
            records, offset = llm_progress.read(db_path, run_id, offset)
            llm_records = [r for r in records if r.get("kind") != "step"]
            for record in records:
                if record.get("kind") == "step":
                    state.step = record
                else:
                    state.llm = record
            if line:
                for record in llm_records:
                    if record.get("event") == "finish":  # a finished LLM task stays on screen
                        line.clear()
                        echo(llm_progress.format_line(record))
                if not finished:
                    line.show(render())
            elif llm_records:
                shown = [r for r in llm_records if r.get("event") in ("start", "finish")]
                if llm_records[-1].get("event") == "progress":
                    shown.append(llm_records[-1])
                for record in shown:
                    echo(llm_progress.format_line(record))
            if finished:
                return

    if line:
        line.show(render())
    thread = threading.Thread(target=loop, name="run-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        if line:
            line.clear()
