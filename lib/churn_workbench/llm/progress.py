"""Live LLM progress, visible on the runner's terminal while a stage kernel works.

A stage runs inside a papermill kernel whose output the runner does not show. So the request
engine appends small JSON lines (counts only: items done / ok / fallen back / blocked /
violations, requests, retries, timeouts, tokens) to a file beside the database, at most about
once a second plus a final line, and notices the operator must see (the engine adapted to a
slow endpoint); the runner tails it:

    with progress.following(settings.db_path, run_id, echo):   # in pipeline.execute_stage
        papermill.execute_notebook(...)

or polls `progress.read(db_path, run_id, offset)` itself. Files live in `<db dir>/.progress/`
and hold no feedback text and no ids, only counts and the engine's own notices;
`clear(db_path, run_id)` removes one.
"""
from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import WorkbenchError


def path(db_path: str | Path, run_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(run_id))[:120] or "run"
    return Path(db_path).resolve().parent / ".progress" / f"{safe}.jsonl"


def proven_folder(db_path: str | Path) -> Path:
    """The progress folder, obtained from the workspace (proven inside it, then made)."""
    from ..workspace import progress_folder
    return progress_folder(db_path)


class Reporter:
    """The engine's side: throttled appends of the current counts for one stage and task."""

    def __init__(self, db_path: str | Path, run_id: str, stage: str, interval_s: float = 1.0):
        self.file, self.stage, self.interval_s = path(db_path, run_id), stage, interval_s
        self.db_path, self._proven = db_path, None
        self._last = 0.0
        self._lock = threading.Lock()
        self._base: dict = {}
        self._started = time.monotonic()

    def _write(self, record: dict) -> None:
        try:
            if not self._proven:  # proven inside the workspace (never through a link), once
                self._proven = proven_folder(self.db_path)
            with open(self.file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
        except (OSError, WorkbenchError):
            pass  # progress is a convenience: it never fails a stage

    def start(self, task: str, total: int, provider: str, model: str) -> None:
        self._base = {"stage": self.stage, "task": task, "total": int(total), "provider": provider, "model": model}
        self._started = time.monotonic()
        self._write(dict(self._base, event="start", ts=time.time(), elapsed_s=0.0))

    def update(self, counts: dict, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self.interval_s:
                return
            self._last = now
        self._write(dict(self._base, **counts, event="progress", ts=time.time(),
                         elapsed_s=round(now - self._started, 1)))

    def notice(self, text: str) -> None:
        """One line the runner shows as it is (e.g. that the engine adapted to a slow endpoint);
        the caller keeps it free of text and ids."""
        self._write(dict(self._base, event="notice", text=text, ts=time.time(),
                         elapsed_s=round(time.monotonic() - self._started, 1)))

    def finish(self, counts: dict) -> None:
        self._write(dict(self._base, **counts, event="finish", ts=time.time(),
                         elapsed_s=round(time.monotonic() - self._started, 1)))


def read(db_path: str | Path, run_id: str, offset: int = 0) -> tuple[list[dict], int]:
    """New progress records since byte `offset`, and the offset to pass next time."""
    file = path(db_path, run_id)
    try:
        with open(file, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line being written is read next time
    records = []
    for line in data[:end].splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records, offset + end


def format_line(record: dict) -> str:
    """One terminal line, e.g. `feedback analysis via openai:m: 40/120 items (ok 37, fallback 2, ...)`."""
    parts = [f"ok {record.get('ok', 0)}"]
    for key, label in (("fallback", "fallback"), ("blocked", "blocked"), ("violation", "policy")):
        if record.get(key):
            parts.append(f"{label} {record[key]}")
    extra = [f"{record.get('requests', 0)} requests"]
    for key in ("retries", "timeouts", "rate_limited"):
        if record.get(key):
            extra.append(f"{record[key]} {key.replace('_', '-')}")
    extra.append(f"{record.get('tokens', 0):,} tokens")
    if record.get("event") == "notice":
        return f"    {record.get('text', '')}"
    head = f"    {record.get('stage')} {record.get('task')} via {record.get('provider')}:{record.get('model')}"
    if record.get("event") == "start":
        return f"{head}: {record.get('total', 0)} items to send"
    return (f"{head}: {record.get('done', 0)}/{record.get('total', 0)} items ({', '.join(parts)}), "
            f"{', '.join(extra)}, {record.get('elapsed_s', 0):.0f} s" + (" — done" if record.get("event") == "finish" else ""))


@contextlib.contextmanager
def following(db_path: str | Path, run_id: str, echo: Callable[[str], None] = print,
              interval_s: float = 5.0) -> Iterator[None]:
    """Echo the newest progress line every `interval_s` while the block runs (a daemon thread)."""
    stop = threading.Event()
    offset = read(db_path, run_id)[1]  # only what this block's stage writes

    def loop() -> None:
        nonlocal offset
        while True:
            finished = stop.wait(interval_s)
            records, offset = read(db_path, run_id, offset)
            if records:
                # The newest line per task, plus every start, notice and finish line (they are few).
                shown = [r for r in records if r.get("event") in ("start", "notice", "finish")]
                last = records[-1]
                if last.get("event") == "progress":
                    shown.append(last)
                for record in shown:
                    echo(format_line(record))
            if finished:
                return

    thread = threading.Thread(target=loop, name="llm-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def clear(db_path: str | Path, run_id: str) -> None:
    path(db_path, run_id).unlink(missing_ok=True)
