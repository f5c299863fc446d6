"""The request engine: turn work items into validated per-item results from a remote backend.

One job, whatever the task: pack items into batches with opaque refs, gate each exact payload
with the allow rule (churn_workbench.egress.gate, which never calls the PII finder), record it,
send it, and resolve every item. The parts live in their own
modules: scheduling (workqueue.py: batches, workers), one request with its retries
(attempts.py), what became of its items (settle.py), recording of what left the machine
(recording.py, journal.py), reading replies (replies.py), the per-run budget (budget.py), the
rate limiter (ratelimit.py) and the slow-endpoint adaptation (adapt.py). This module wires them:
the run, the workers, the per-item screen and the egress gate, the capability modes.

Items end in one of four states: ok (a validated result that passed the output guard),
blocked (a token the allow rule does not know to be safe, churn_workbench.egress: never sent), violation (a schema-valid result whose text broke the output
guard: never stored, never retried), fallback (retries, budget or provider exhausted). The
caller turns the last three into local results. Nothing here raises for a per-item or
per-request failure; it raises for what an operator must fix: an endpoint that supports none of
the allowed response formats (CapabilityError), a write-ahead record that could not be made
(WriteAheadError), or more fallbacks than `llm_fallback_threshold` allows (LLMUnavailable; when
the endpoint was too slow, the message says what to set).

Capabilities: `llm_response_format=auto` starts with json_schema (strict) and degrades to
json_object, then plain text, when the endpoint rejects the format; the weaker modes carry the
schema in the system prompt and accept JSON inside a code fence or after a line of prose.

The one path to the network is `Engine.check_record_send`: the exact request body is checked
by the egress gate, then each attempt is recorded (write-ahead, before the bytes leave), then
sent.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Callable

import pandas as pd
from tqdm import tqdm

from ..egress.gate import denials as egress_gate
from ..egress.gate import trusted_strings
from ..errors import CapabilityError, LLMUnavailable, WriteAheadError
from ..vocab import LLM_RESPONSE_FORMATS
from . import prompts, schemas
from .adapt import Adaptation, Limits, SlowEndpointWatch, too_slow_hint
from .attempts import RetryPolicy, send_with_retries
from .base import Provider
from .budget import BUDGET_REASONS, Budget
from .ratelimit import RateLimiter
from .recording import Recorder, empty_egress, sha256_text
from .replies import parse_content
from .settle import settle_request
from .workqueue import WorkItem, WorkQueue, run_workers

# Names callers import from here: the engine's public surface.
__all__ = ["Engine", "LLMUnavailable", "MODES", "WorkItem", "empty_egress", "entity_types", "parse_content"]

MODES = LLM_RESPONSE_FORMATS


def entity_types(findings) -> list[str]:
    """Entity type names of residual-PII findings (never the matched text)."""
    types = set()
    for f in findings:
        kind = getattr(f, "entity_type", None) or getattr(f, "kind", None) or getattr(f, "type", None)
        if kind is None and isinstance(f, dict):
            kind = f.get("entity_type") or f.get("type")
        types.add(str(kind or "UNKNOWN"))
    return sorted(types)


class Engine:
    """Runs one task (analysis or action) for one stage of one run.

    schema_for(refs, items) -> the wire schema of one request (items: the payloads with refs); validate(content) -> ({ref: result},
    n_invalid); guard(refs -> WorkItem, valid results) -> {ref: [rule, ...]} for results whose
    text may not be stored; journal: durable write-ahead record (None: in memory only);
    progress: a llm.progress.Reporter (None: no live progress).
    """

    def __init__(self, *, provider: Provider, task: str, model: str, prompt_version: str, system: str,
                 schema_for: Callable[[list[str] | None, list[dict]], dict], validate: Callable[[object], tuple[dict, int]], settings,
                 audit, run_id: str, stage: str, completion_per_item: int,
                 guard: Callable[[dict, dict], dict] | None = None, journal=None, progress=None,
                 on_ok: Callable[[list[WorkItem]], None] | None = None):
        self.provider, self.task, self.model, self.prompt_version = provider, task, model, prompt_version
        self.system, self.schema_for, self.validate, self.guard = system, schema_for, validate, guard
        self.audit, self.stage, self.reporter = audit, stage, progress
        self.on_ok = on_ok
        batch_size, concurrency = max(1, int(settings.llm_batch_size)), max(1, int(settings.llm_concurrency))
        self.queue = WorkQueue(batch_size, concurrency, self._on_done)
        self.watch = SlowEndpointWatch(Limits(concurrency, batch_size, float(settings.llm_timeout_s)),
                                       settings.llm_adapt_max_timeout_s, enabled=bool(settings.llm_adapt))
        self.policy = RetryPolicy.from_settings(settings)
        self.item_tries = max(1, int(settings.llm_item_tries))
        min_batch = settings.llm_min_batch if settings.llm_min_batch is not None else batch_size // 4
        self.min_batch = max(1, min(batch_size, int(min_batch)))
        self.progress = bool(settings.llm_progress)
        self.max_tokens_cap = max(16, int(settings.llm_max_completion_tokens or 2048))
        self.fallback_threshold = float(1.0 if settings.llm_fallback_threshold is None
                                        else settings.llm_fallback_threshold)
        wanted = (settings.llm_response_format or "auto").lower()
        if wanted != "auto" and wanted not in MODES:
            raise ValueError(f"llm_response_format must be auto or one of {', '.join(MODES)}, not {wanted!r}")
        self.modes = list(MODES) if wanted == "auto" else [wanted]
        self._mode = 0
        self.limiter = RateLimiter(settings.llm_requests_per_minute, settings.llm_tokens_per_minute,
                                   window_s=settings.llm_rate_window_s, max_wait_s=settings.llm_max_wait_s)
        self.budget = Budget(settings.llm_max_requests, settings.llm_max_tokens)
        self.recorder = Recorder(audit=audit, journal=journal, run_id=run_id, stage=stage, provider=provider.name,
                                 model=model, prompt_version=prompt_version)
        self.completion_per_item = float(completion_per_item)
        # max_tokens per request: room for a reasoning preamble plus 3x the expected answer size,
        # the per-item size learned only from complete, valid replies, and never above the cap.
        self._max_completion = 384
        self._fatal: BaseException | None = None
        self.rng = random.Random()
        self._fallback_reasons: Counter = Counter()
        self.stats = Counter()
        self._stats_lock = threading.Lock()  # workers update counters concurrently
        self._mode_lock = threading.Lock()
        self._pbar = None
        self._started = time.monotonic()
        # Initialise lazily built state (validator, PII recognizers) here, in one thread: racing
        # first calls from the workers cost seconds and, in the PII finder, a lasting slowdown.
        validate({"results": []})
        egress_gate('{"messages":[{"role":"user","content":"[{\\"text\\":\\"Warm-up: the router, 5G\\"}]"}]}')
        # Prompt tokens of a request with no items: the system prompt, schema and framing.
        self.overhead = prompts.estimate_tokens(len(prompts.json_compact(self._body([], 0))))

    @property
    def mode(self) -> str:
        return self.modes[self._mode]

    def _body(self, items: list[dict], max_tokens: int) -> dict:
        """The request body for `items` (each with its ref) in the current capability mode."""
        schema = self.schema_for([it["ref"] for it in items] or None, items)
        mode = self.mode
        system = self.system if mode == "json_schema" else prompts.with_schema(self.system, schema)
        return self.provider.build_body(self.model, prompts.messages(system, items),
                                        schemas.response_format(self.task, schema, mode), max_tokens)

    # ------------------------------------------------------------------ public
    def run(self, items: list[WorkItem]) -> None:
        """Resolve every item (in place). Returns when all are ok, blocked, violation or fallback."""
        if not items:
            return
        for it in items:
            it.tokens = prompts.estimate_tokens(len(prompts.json_compact({"ref": "r00", **it.payload})) + 1)
        self.queue.put(items)
        self._started = time.monotonic()
        self._pbar = tqdm(total=len(items), desc=f"{self.stage} via {self.provider.name}:{self.model}", unit="item",
                          disable=not self.progress, mininterval=0.5, leave=False)
        if self.reporter is not None:
            self.reporter.start(self.task, len(items), self.provider.name, self.model)
        try:
            run_workers(min(self.queue.concurrency, len(items)), self._worker)
            # Whatever egress stopped before reaching (budget, quota, auth) falls back locally.
            self.finish_fallback([it for it in items if it.state != "done"], self.fallback_reason(),
                                  count_held=False)
        finally:
            self._pbar.close()
        self._close_run()
        if self.reporter is not None:
            self.reporter.finish(self._progress_counts())
        if self._fatal is not None:
            raise self._fatal
        failed = sum(n for reason, n in self._fallback_reasons.items() if reason != "budget_exhausted")
        if items and failed / len(items) > self.fallback_threshold:
            slow = self._fallback_reasons["timeout"] or self._fallback_reasons["endpoint_too_slow"]
            raise LLMUnavailable(
                f"{failed} of {len(items)} items sent to {self.provider.name}:{self.model} fell back "
                f"({', '.join(f'{r}: {n}' for r, n in sorted(self._fallback_reasons.items()))}); more than "
                f"llm_fallback_threshold={self.fallback_threshold:g} allows. Their answers so far are kept."
                + (" " + too_slow_hint(self.watch.limits) if slow else ""))

    def egress(self) -> pd.DataFrame:
        return self.recorder.egress()

    # ------------------------------------------------------------------ shared with attempts.py
    def count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def stop(self, reason: str) -> None:
        """Stop all egress for this run (the first reason wins)."""
        self.queue.stop(reason)

    def settle_tokens(self, reservation, estimate: int, actual: int) -> None:
        # No usage reported (e.g. a truncated body): the server still billed it; assume the estimate.
        billed = actual or estimate
        reservation.settle(billed)
        self.budget.settle(estimate, billed)
        self.count("tokens", actual)

    def observe_latency(self, latency_ms: float, timed_out: bool, generation: int) -> None:
        """One attempt's latency or timeout, for the slow-endpoint watch (adapt.py)."""
        adaptation = self.watch.observe(latency_ms / 1000, timed_out, generation)
        if adaptation is not None:
            self._adapt(adaptation)
        if self.watch.hopeless:
            self.stop("endpoint_too_slow")

    def _adapt(self, adaptation: Adaptation) -> None:
        after = adaptation.after
        self.min_batch = min(self.min_batch, after.batch_size)
        self.queue.resize(batch_size=after.batch_size, concurrency=after.concurrency)
        self.count("endpoint_adapted", 1)
        self.audit.event("llm_endpoint_adapted", "adapted", task=self.task, provider=self.provider.name,
                         model=self.model, **adaptation.details())
        line = adaptation.line(self.provider.name, self.model)
        print(line, flush=True)  # the notebook's output (and a library user's terminal)
        if self.reporter is not None:
            self.reporter.notice(line)  # the runner's terminal

    # ------------------------------------------------------------------ progress and fallbacks (also settle.py)
    def _progress_counts(self) -> dict:
        with self._stats_lock:
            return {k: int(self.stats[k]) for k in ("done", "ok", "fallback", "blocked", "violation", "requests",
                                                     "retries", "timeouts", "rate_limited", "tokens")}

    def _on_done(self, items: list[WorkItem]) -> None:
        with self._stats_lock:
            self.stats["done"] += len(items)
            for it in items:
                self.stats[it.status if it.status in ("ok", "blocked", "violation") else "fallback"] += 1
        if self.reporter is not None:
            self.reporter.update(self._progress_counts())
        if self._pbar is not None and not self._pbar.disable:
            # Current rate: tokens started within the limiter's window, scaled to a minute.
            rate = self.limiter.tokens_in_window() * 60 / self.limiter.window_s
            self._pbar.update(len(items))
            self._pbar.set_postfix(tokens=self.stats["tokens"], tok_per_min=int(rate),
                                   requests=self.stats["requests"], refresh=False)

    def finish_fallback(self, items: list[WorkItem], reason: str, count_held: bool = True) -> None:
        if not items:
            return
        for it in items:
            it.status, it.reason = "fallback", reason
        with self._stats_lock:
            self._fallback_reasons[reason] += len(items)
        self.queue.done(items, count_held)

    def fallback_reason(self) -> str:
        if self.queue.stop_reason in BUDGET_REASONS:
            return "budget_exhausted"
        return self.queue.stop_reason or "not_processed"

    # ------------------------------------------------------------------ one worker
    def _worker(self, number: int) -> None:
        while True:
            batch = self.queue.take(number)
            if batch is None:
                return
            try:
                self._process(batch)
            except (CapabilityError, WriteAheadError) as exc:  # an operator must act: stop everything
                self._fatal = self._fatal or exc
                self.stop("capability" if isinstance(exc, CapabilityError) else "write_ahead_failed")
                self.finish_fallback([it for it in batch if it.state == "held"], self.queue.stop_reason)
            except Exception as exc:  # a bug must cost a fallback, never a lost item
                held = [it for it in batch if it.state == "held"]
                self.audit.event("llm_internal_error", "failed", error=type(exc).__name__, n_items=len(held))
                self.finish_fallback(held, "internal_error")

    def _screen(self, batch: list[WorkItem]) -> list[WorkItem]:
        """Per-item PII pre-screen, so one bad text blocks itself rather than its whole batch."""
        clean = []
        for it in batch:
            if not it.screened:
                it.screened = True
                findings = egress_gate(it.screen_text, frozenset(it.trusted))
                if findings:
                    it.status, it.reason = "blocked", "not_allowed"
                    self.audit.event("egress_blocked", "blocked", scope="item", task=self.task,
                                     entity_types=entity_types(findings), n_items=1)
                    self.queue.done([it])
                    continue
            clean.append(it)
        return clean

    def _estimate(self, items: list[WorkItem]) -> int:
        per_item = self.completion_per_item * 1.15
        return self.overhead + int(sum(it.tokens + per_item for it in items))

    def _process(self, batch: list[WorkItem]) -> None:
        batch = self._screen(batch)
        if not batch:
            return
        at_least = self._estimate(batch[: self.min_batch])
        reservation = self.limiter.reserve(self._estimate(batch), at_least, self.queue.should_stop)
        if reservation is None:
            self.queue.give_back(batch)
            return
        # The request is sized and timed by the limits in force now (a batch taken before the
        # engine adapted to a slow endpoint is cut to the new size).
        generation, limits = self.watch.current()
        n = min(len(batch), limits.batch_size)
        while n > 1 and self._estimate(batch[:n]) > reservation.tokens:
            n -= 1  # use the capacity there is now rather than wait for a full batch's worth
        if n < len(batch):
            self.queue.give_back(batch[n:])
            batch = batch[:n]
        self.check_record_send(batch, reservation, generation, limits.timeout_s)

    # ------------------------------------------------------------------ the one path to the network
    def check_record_send(self, batch: list[WorkItem], reservation, generation: int, timeout_s: float) -> None:
        """Check the exact request body for `batch` with the egress gate, then record and send it.

        The body is built once; the gate reads exactly the text that is recorded and sent. A
        finding in a batch splits it (each item goes through this same gate alone, so one bad
        text keeps only itself home); a finding in a one-item request blocks the item. What
        passes is sent by attempts.send_with_retries, which records every attempt's exact bytes
        (write-ahead) before the provider writes them to the socket. `reservation`: the rate
        limiter slot claimed for this request (released if nothing is sent); `generation`,
        `timeout_s`: the slow-endpoint watch's settings the request was sized under.
        """
        refs = {f"r{i + 1}": it for i, it in enumerate(batch)}
        max_tokens = min(self.max_tokens_cap, int(self._max_completion + 3 * self.completion_per_item * len(batch)))
        mode = self.mode
        sent = [{"ref": r, **it.payload} for r, it in refs.items()]
        body = self._body(sent, max_tokens)
        payload = prompts.json_compact(body)
        # The gate, over the exact body before every send: what the product wrote for this
        # request passes as written, every other string must satisfy the allow rule.
        schema = self.schema_for(list(refs), sent)
        trusted = trusted_strings(self._body([], max_tokens), schema, prompts.with_schema(self.system, schema),
                                  list(refs), [t for it in batch for t in it.trusted])
        findings = egress_gate(payload, trusted)
        if findings and len(batch) > 1:
            # Every item passed its own screen, so what the gate saw comes from one item in its
            # request context (or from items side by side): send each alone, through this same
            # gate, so one bad text keeps itself home and never its neighbours.
            reservation.release()
            self.audit.event("egress_batch_split", "ok", task=self.task, entity_types=entity_types(findings),
                             n_items=len(batch))
            for it in batch:
                self._process([it])
            return
        if findings:
            reservation.release()
            for it in batch:
                it.status, it.reason = "blocked", "not_allowed"
            self.audit.event("egress_blocked", "blocked", scope="request", task=self.task,
                             entity_types=entity_types(findings), n_items=len(batch),
                             payload_sha256=sha256_text(payload))
            self.queue.done(batch)
            return
        estimate = prompts.estimate_tokens(len(payload)) + int(self.completion_per_item * 1.15 * len(batch))
        reservation.resize(estimate)
        for it in batch:
            it.tries += 1
        result = send_with_retries(self, body, payload, estimate, reservation, list(refs), mode, generation,
                                   timeout_s)
        if result.outcome == "capability_rejected":
            self._degrade(mode)  # before the items go back, so no worker resends them in the refused mode
        settle_request(self, refs, result, payload)

    def _degrade(self, rejected: str) -> None:
        """The endpoint rejected `rejected`: use the next weaker mode, or stop loudly if none is left."""
        with self._mode_lock:
            if self.mode != rejected:
                return  # another worker already moved on
            if self._mode + 1 < len(self.modes):
                self._mode += 1
                self.audit.event("llm_capability_degraded", "degraded", task=self.task, provider=self.provider.name,
                                 model=self.model, rejected=rejected, now=self.mode)
                self.count("degraded", 1)
                return
            self._fatal = self._fatal or CapabilityError(
                f"{self.provider.name}:{self.model} rejected response_format {rejected!r} and no weaker format is "
                f"allowed (llm_response_format={'auto' if len(self.modes) > 1 else rejected}); set "
                "WORKBENCH_LLM_RESPONSE_FORMAT to a format the endpoint supports (json_schema, json_object or text)")
        self.audit.event("llm_capability_error", "failed", task=self.task, provider=self.provider.name,
                         model=self.model, rejected=rejected)
        self.stop("capability")

    def _close_run(self) -> None:
        stop_reason = self.queue.stop_reason
        self.stats["elapsed_s"] = round(time.monotonic() - self._started, 3)
        self.stats["limiter_wait_s"] = round(self.limiter.waited_s, 3)
        for reason, n in sorted(self._fallback_reasons.items()):
            self.audit.event("llm_fallback", "fallback", task=self.task, reason=reason, n_items=n)
        if stop_reason in BUDGET_REASONS:
            self.audit.event("llm_budget_exhausted", "stopped", task=self.task, reason=stop_reason,
                             requests_used=self.budget.requests, tokens_used=self.budget.tokens,
                             max_requests=self.budget.max_requests, max_tokens=self.budget.max_tokens,
                             items_fallback=self._fallback_reasons["budget_exhausted"])
        elif stop_reason:
            self.audit.event("llm_egress_stopped", "stopped", task=self.task, reason=stop_reason)
        self.stats["fallbacks"] = sum(self._fallback_reasons.values())
        self.stats["output_violations"] = self.stats["violation"]
        self.stats["response_format"] = self.mode
        self.stats["budget_exhausted"] = stop_reason in BUDGET_REASONS
        self.stats["stop_reason"] = stop_reason
