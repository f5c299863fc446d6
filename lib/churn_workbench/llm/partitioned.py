"""LLM requests on the run's Dask cluster, at the request engine's outer boundary.

`run_engine(owners, items, **engine_kwargs)` does what `Engine(**engine_kwargs).run(items)` does
and returns an object with the engine's `stats` and `egress()`. Few items: exactly that, in
this process. Many: the items are partitioned by a hash of their owner (the customer whose item
it is; cluster.py), and each partition goes to a worker that runs the existing engine on it with
its share of the rate limits, the request budget and the concurrency (1 / worker threads; a
share of the budget per partition), building its own provider from the settings and the
worker's environment, so no key ever travels with a task.

The write-ahead journal stays with the single writer, the stage kernel. A worker's engine gets a
journal proxy that sends each request's record (and the audit events so far) to the kernel
through a Dask queue and waits until the kernel has committed it, before the bytes leave; the
same for the outcome and for every answer as it arrives (cached by the kernel's persister).

A worker killed mid-stage costs a retry, not a row, and nothing is sent twice: the scheduler runs
the lost partition again elsewhere, and the partition first asks the kernel what became of its
items -- answered ones come back from the kernel's record; ones in a request that left (or may
have left) without an answer being recorded are not sent again but analysed offline (status
fallback, reason `interrupted`); only the rest are sent. The journal decides, not the worker.
"""
from __future__ import annotations

import dataclasses
import math
import pickle
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from .. import cluster
from ..audit import AuditLog
from ..errors import LLMUnavailable, WriteAheadError
from .adapt import Limits, too_slow_hint
from .engine import Engine, WorkItem, empty_egress

# Engine arguments that live in the kernel only: the provider (an SDK client with its key),
# the audit buffer, the journal (the database), progress and the answer persister.
_KERNEL_ONLY = ("provider", "audit", "journal", "progress", "on_ok")
_REPLY_TIMEOUT_S = 300  # a kernel that does not answer a worker for this long has died


def run_engine(owners: list[str], items: list[WorkItem], **engine_kwargs):
    """Resolve `items` (in place) like Engine(**engine_kwargs).run(items). owners[i]: the customer
    id item i belongs to (its partition)."""
    settings = engine_kwargs["settings"]
    client = cluster.client_for(settings, len(items)) if items else None
    if client is None:
        engine = Engine(**engine_kwargs)
        engine.run(items)
        return engine
    return _Distributed(client, engine_kwargs).run(owners, items)


@dataclass
class PartitionResult:
    items: list[WorkItem]
    egress: pd.DataFrame
    stats: dict
    events: list[dict]            # the partition's audit events not yet written with a request


@dataclass
class _Merged:
    """What agent.py reads from an engine: stats and egress()."""
    stats: Counter = field(default_factory=Counter)
    frames: list[pd.DataFrame] = field(default_factory=list)

    def egress(self) -> pd.DataFrame:
        frames = [f for f in self.frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else empty_egress()


class _Distributed:
    def __init__(self, client, engine_kwargs: dict):
        self.client = client
        self.kw = engine_kwargs
        self.audit, self.journal = engine_kwargs["audit"], engine_kwargs["journal"]
        self.on_ok, self.reporter = engine_kwargs.get("on_ok"), engine_kwargs.get("progress")
        self.channel = f"workbench-journal-{secrets.token_hex(8)}"
        self.sent: set[str] = set()          # keys of items in a request recorded as (about to be) sent
        self.answered: dict[str, dict] = {}  # key -> validated result, as the workers reported them
        self._lock = threading.Lock()

    def run(self, owners: list[str], items: list[WorkItem]) -> _Merged:
        from distributed import Queue

        settings = self.kw["settings"]
        n_threads = cluster.threads(self.client)
        for i, it in enumerate(items):
            it.key = it.key or f"item-{i}"  # the journal's handle on an item across retries
        groups = cluster.split(owners, cluster.partition_count(len(items), n_threads))
        cluster.note(run_partition, len(items), len(groups), self.client)
        share = _share(settings, n_threads, len(groups))
        spec = {k: v for k, v in self.kw.items() if k not in _KERNEL_ONLY}
        spec["settings"] = share
        provider = self.kw["provider"]
        if self.reporter is not None:
            self.reporter.start(self.kw["task"], len(items), provider.name, self.kw["model"])
        inbox = Queue(self.channel, client=self.client)
        stop = threading.Event()
        server = threading.Thread(target=self._serve, args=(inbox, stop), name="journal-server", daemon=True)
        server.start()
        merged = _Merged()
        try:
            chunks = [[items[i] for i in g] for g in groups]
            for number, result in cluster.run_tasks(self.client, run_partition, chunks, spec, self.channel):
                for mine, theirs in zip(chunks[number], result.items):
                    mine.__dict__.update(theirs.__dict__)
                self.audit.pending.extend(result.events)
                merged.frames.append(result.egress)
                _add_stats(merged.stats, result.stats)
                if self.reporter is not None:
                    self.reporter.update(_counts(merged.stats))
        finally:
            stop.set()
            server.join()
            inbox.close()
        if self.journal is not None:
            # Requests recorded by a worker that died before their outcome: they may have left.
            self.journal.reconcile(self.audit)
        if self.reporter is not None:
            self.reporter.finish(_counts(merged.stats))
        self._check_fallbacks(items, settings, provider.name)
        return merged

    def _check_fallbacks(self, items, settings, provider_name) -> None:
        """The stage-wide fallback threshold (each partition runs with none)."""
        reasons = Counter(it.reason for it in items if it.status == "fallback" and it.reason != "budget_exhausted")
        failed = sum(reasons.values())
        threshold = settings.llm_fallback_threshold if settings.llm_fallback_threshold is not None else 1.0
        if items and failed / len(items) > threshold:
            slow = reasons["timeout"] or reasons["endpoint_too_slow"]
            limits = Limits(max(1, int(settings.llm_concurrency)), max(1, int(settings.llm_batch_size)),
                            float(settings.llm_timeout_s))
            raise LLMUnavailable(
                f"{failed} of {len(items)} items sent to {provider_name}:{self.kw['model']} fell back "
                f"({', '.join(f'{r}: {n}' for r, n in sorted(reasons.items()))}); more than "
                f"llm_fallback_threshold={threshold:g} allows. Their answers so far are kept."
                + (" " + too_slow_hint(limits) if slow else ""))

    # ------------------------------------------------------------------ the kernel's journal server
    def _serve(self, inbox, stop: threading.Event) -> None:
        from distributed import Queue

        replies: dict[str, object] = {}
        while not stop.is_set():
            try:
                raw = inbox.get(timeout=0.2)
            except Exception:  # noqa: BLE001 - a timeout (its type differs between versions)
                continue
            message = pickle.loads(raw)
            try:
                answer = {"ok": True, **(self._handle(message) or {})}
            except Exception as exc:  # noqa: BLE001 - the worker raises it in the engine
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            box = replies.get(message["reply"])
            if box is None:
                box = replies[message["reply"]] = Queue(message["reply"], client=self.client)
            box.put(pickle.dumps(answer))
        for box in replies.values():
            box.close()

    def _handle(self, message: dict) -> dict | None:
        op = message["op"]
        sink = AuditLog(self.audit.run_id, self.audit.stage, pending=list(message.get("events", ())))
        if op == "begin":
            keys = message["keys"]
            with self._lock:
                answered = {k: self.answered[k] for k in keys if k in self.answered}
                in_doubt = [k for k in keys if k in self.sent and k not in answered]
            return {"answered": answered, "in_doubt": in_doubt}
        if op == "before_send":
            with self._lock:
                self.sent.update(message["keys"])
            if self.journal is not None:
                self.journal.before_send(sink, message["row"], mode=message["mode"])
            else:
                self.audit.pending.extend(sink.pending)
            return None
        if op == "after":
            if self.journal is not None:
                self.journal.after(sink, *message["args"])
            else:
                self.audit.pending.extend(sink.pending)
            return None
        if op == "answered":
            done = [WorkItem(payload={}, screen_text="", key=k, result=r, status="ok") for k, r in message["results"]]
            with self._lock:
                self.answered.update(message["results"])
            if self.on_ok is not None and done:
                self.on_ok(done)
            return None
        raise ValueError(f"unknown journal message {op!r}")


def _share(settings, n_threads: int, n_partitions: int):
    """One partition's settings: 1 / n_threads of the rate limits and concurrency (that many
    partitions run at once), 1 / n_partitions of the stage's budget, no fallback threshold (the
    kernel judges the stage as a whole), no progress bar on the worker."""
    def part(value, n):
        return int(math.ceil(value / n)) if value else value
    return dataclasses.replace(
        settings, llm_requests_per_minute=part(settings.llm_requests_per_minute, n_threads),
        llm_tokens_per_minute=part(settings.llm_tokens_per_minute, n_threads),
        llm_concurrency=max(1, part(settings.llm_concurrency, n_threads)),
        llm_max_requests=part(settings.llm_max_requests, n_partitions),
        llm_max_tokens=part(settings.llm_max_tokens, n_partitions),
        llm_fallback_threshold=1.0, llm_progress=False, llm_progress_file=False)


_SUMMED = ("done", "ok", "fallback", "blocked", "violation", "requests", "retries", "timeouts", "rate_limited", "tokens",
           "prompt_tokens", "completion_tokens", "unknown_refs", "requeued", "degraded", "fallbacks",
           "output_violations", "limiter_wait_s", "endpoint_adapted")


def _add_stats(total: Counter, part: dict) -> None:
    for key, value in part.items():
        if key in _SUMMED and isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] += value
        elif key == "elapsed_s":
            total[key] = max(total.get(key, 0), value)
        elif key == "budget_exhausted":
            total[key] = bool(total.get(key)) or bool(value)
        elif key not in total or total[key] in (None, "", 0):
            total[key] = value


def _counts(stats: Counter) -> dict:
    return {k: int(stats.get(k, 0)) for k in ("done", "ok", "fallback", "blocked", "violation", "requests",
                                               "retries", "timeouts", "rate_limited", "tokens")}


# ---------------------------------------------------------------------------- the worker's side

class _Channel:
    """A worker task's line to the kernel's journal server: one call at a time (the kernel's
    journal writes one at a time too), each answered on the task's own reply queue."""

    def __init__(self, name: str):
        from distributed import Queue, get_client

        self.client = get_client()
        self.inbox = Queue(name, client=self.client)
        self.reply_name = f"{name}-reply-{secrets.token_hex(8)}"
        self.replies = Queue(self.reply_name, client=self.client)
        self._lock = threading.Lock()

    def call(self, op: str, **message) -> dict:
        with self._lock:
            self.inbox.put(pickle.dumps(dict(message, op=op, reply=self.reply_name)))
            answer = pickle.loads(self.replies.get(timeout=_REPLY_TIMEOUT_S))
        if not answer.get("ok"):
            raise WriteAheadError(f"the stage kernel could not record {op}: {answer.get('error')}")
        return answer

    def close(self) -> None:
        self.replies.close()
        self.inbox.close()


class _JournalProxy:
    """The engine's journal on a worker: every record is committed by the kernel before the call
    returns. `current.keys`: the item keys of the request this thread is sending (set by
    _PartitionEngine), so a retried partition knows which items may already have left."""

    def __init__(self, channel: _Channel):
        self.channel = channel
        self.current = threading.local()

    @staticmethod
    def _events(audit) -> list[dict]:
        pending = audit.pending
        n = len(pending)
        events = pending[:n]
        del pending[:n]
        return events

    def before_send(self, audit, row: dict, mode: str = "") -> None:
        self.channel.call("before_send", events=self._events(audit), row=row, mode=mode,
                          keys=list(getattr(self.current, "keys", ())))

    def after(self, audit, *args) -> None:
        self.channel.call("after", events=self._events(audit), args=args)


class _PartitionEngine(Engine):
    """The engine, telling its journal proxy which items each request carries (the gate, the
    record and the send stay the engine's one path, `check_record_send`)."""

    def check_record_send(self, batch, reservation, generation, timeout_s):
        self.recorder.journal.current.keys = [it.key for it in batch]
        return super().check_record_send(batch, reservation, generation, timeout_s)


def run_partition(items: list[WorkItem], spec: dict, channel_name: str) -> PartitionResult:
    """A worker's task: ask the kernel what became of these items, run the engine on the rest."""
    from .registry import get_provider

    settings = spec["settings"]
    channel = _Channel(channel_name)
    try:
        status = channel.call("begin", keys=[it.key for it in items])
        doubt = set(status["in_doubt"])
        todo = []
        for it in items:
            if it.key in status["answered"]:
                it.result, it.status, it.state = status["answered"][it.key], "ok", "done"
            elif it.key in doubt:
                it.status, it.reason, it.state = "fallback", "interrupted", "done"
            else:
                todo.append(it)
        audit = AuditLog(spec["run_id"], spec["stage"])
        if doubt:
            audit.event("llm_fallback", "fallback", task=spec["task"], reason="interrupted", n_items=len(doubt))

        def answered(done: list[WorkItem]) -> None:
            channel.call("answered", results=[(it.key, it.result) for it in done])

        engine = _PartitionEngine(provider=get_provider(settings.llm_provider, settings), audit=audit,
                                  journal=_JournalProxy(channel), progress=None, on_ok=answered, **spec)
        engine.run(todo)
        return PartitionResult(items=items, egress=engine.egress(), stats=dict(engine.stats), events=list(audit.pending))
    finally:
        channel.close()
