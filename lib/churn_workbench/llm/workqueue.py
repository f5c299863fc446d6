"""Scheduling of the request engine: the items still to send, handed out in batches to workers.

A worker takes a batch, the engine resolves it (answered, blocked, fallen back) or gives items
back for another try; retried items go first. How many items a batch holds and how many workers
take work may change while a run goes on (a slow endpoint, adapt.py): a worker whose number is
no longer needed finishes its request and leaves, so nothing in flight is abandoned.

A stop (budget, quota, auth, a fatal error) is final: no batch is handed out after it, and the
engine falls back locally for whatever is left.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable


@dataclass
class WorkItem:
    payload: dict             # the fields sent for this item, without its ref; never an id
    screen_text: str          # what the per-item egress pre-screen looks at
    tokens: int = 0           # estimated prompt tokens of this item inside the JSON array
    tries: int = 0            # requests this item has been part of
    state: str = "queued"     # queued | held (by a worker) | done
    status: str = "pending"   # ok | blocked | violation | fallback
    reason: str | None = None
    result: dict | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    screened: bool = False
    key: str | None = None    # the caller's cache key, if any
    trusted: tuple = ()       # strings of the payload the product wrote (feature names), not the customer


class WorkQueue:
    """Items waiting to be sent. `on_done(items)` is called for every item resolved."""

    def __init__(self, batch_size: int, concurrency: int, on_done: Callable[[list[WorkItem]], None]):
        self.batch_size = max(1, int(batch_size))
        self.concurrency = max(1, int(concurrency))
        self._on_done = on_done
        self._cond = threading.Condition()
        self._queue: deque[WorkItem] = deque()
        self._held = 0
        self.stop_reason: str | None = None
        self.stopped = threading.Event()  # set on stop: backoff waits end early

    def put(self, items: list[WorkItem]) -> None:
        with self._cond:
            self._queue.extend(items)
            self._cond.notify_all()

    def take(self, worker: int) -> list[WorkItem] | None:
        """The next batch for worker number `worker`; None when it should leave (stopped, all
        done, or fewer workers are wanted now)."""
        with self._cond:
            while True:
                if self.stop_reason or worker >= self.concurrency:
                    return None
                if self._queue:
                    batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                    for it in batch:
                        it.state = "held"
                    self._held += len(batch)
                    return batch
                if self._held == 0:
                    return None
                self._cond.wait(0.25)  # in-flight items may come back for a retry

    def give_back(self, items: list[WorkItem]) -> None:
        with self._cond:
            for it in reversed(items):
                it.state = "queued"
                self._queue.appendleft(it)  # retried items go first
            self._held -= len(items)
            self._cond.notify_all()

    def done(self, items: list[WorkItem], count_held: bool = True) -> None:
        with self._cond:
            for it in items:
                it.state = "done"
            if count_held:
                self._held -= len(items)
            self._cond.notify_all()
        if items:
            self._on_done(items)

    def resize(self, batch_size: int | None = None, concurrency: int | None = None) -> None:
        with self._cond:
            if batch_size is not None:
                self.batch_size = max(1, int(batch_size))
            if concurrency is not None:
                self.concurrency = max(1, int(concurrency))
            self._cond.notify_all()

    def stop(self, reason: str) -> None:
        with self._cond:
            if self.stop_reason is None:
                self.stop_reason = reason
            self._cond.notify_all()
        self.stopped.set()

    def should_stop(self) -> bool:
        return self.stop_reason is not None


def run_workers(n: int, work: Callable[[int], None]) -> None:
    """`work(worker_number)` on n threads; returns when all have returned."""
    workers = [threading.Thread(target=work, args=(i,), name=f"llm-{i}", daemon=True) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
