"""The request engine: turn work items into validated per-item results from a remote backend.

One job, whatever the task: pack items into batches with opaque refs, gate each exact payload
with the allow rule (churn_workbench.egress.gate), respect the rate limiter and the per-run budget, send from a few threads,
retry failed requests (exponential backoff with jitter, or the server's retry-after) and
re-queue items whose results were missing or invalid, and write down exactly what left the
machine (llm_egress rows) and what happened (audit events: counts, hashes and types only).

Items end in one of four states: ok (a validated result that passed the output guard),
blocked (a token the allow rule does not know to be safe, churn_workbench.egress: never sent), violation (a schema-valid result whose text broke the output
guard: never stored, never retried), fallback (retries, budget or provider exhausted). The
caller turns the last three into local results. Nothing here raises for a per-item or
per-request failure; it raises for what an operator must fix: an endpoint that supports none of
the allowed response formats (CapabilityError), a write-ahead record that could not be made
(WriteAheadError), or more fallbacks than `llm_fallback_threshold` allows (LLMUnavailable).

Capabilities: `llm_response_format=auto` starts with json_schema (strict) and degrades to
json_object, then plain text, when the endpoint rejects the format; the weaker modes carry the
schema in the system prompt and accept JSON inside a code fence or after a line of prose.

Write-ahead: with a journal (llm/journal.py) each attempt's exact bytes are committed to
llm_egress, and chained in the audit log, before they are sent; the outcome is updated after.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import pandas as pd
from tqdm import tqdm

from ..errors import WorkbenchError
from ..egress.gate import denials as egress_gate
from ..egress.gate import trusted_strings
from . import prompts, schemas
from .base import CapabilityError, Provider, ProviderError, WriteAheadError, knob, on_wire
from .ratelimit import QuotaExhausted, RateLimiter, retry_after_seconds

MODES = ("json_schema", "json_object", "text")


class LLMUnavailable(WorkbenchError):
    """More items fell back than `llm_fallback_threshold` allows: the stage fails instead of
    pretending the model answered."""

EGRESS_COLUMNS = ["request_id", "run_id", "stage", "provider", "model", "prompt_version", "payload",
                  "payload_sha256", "n_items", "sent_at", "outcome", "prompt_tokens", "completion_tokens",
                  "latency_ms", "attempts"]
BUDGET_REASONS = ("max_requests", "max_tokens", "provider_quota")


def entity_types(findings) -> list[str]:
    """Entity type names of residual-PII findings (never the matched text)."""
    types = set()
    for f in findings:
        kind = getattr(f, "entity_type", None) or getattr(f, "kind", None) or getattr(f, "type", None)
        if kind is None and isinstance(f, dict):
            kind = f.get("entity_type") or f.get("type")
        types.add(str(kind or "UNKNOWN"))
    return sorted(types)


def empty_egress() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "sent_at" else object) for c in EGRESS_COLUMNS})


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


class Budget:
    """Per-run ceiling on requests and tokens. In-flight estimates count until settled."""

    def __init__(self, max_requests: int, max_tokens: int):
        self.max_requests, self.max_tokens = int(max_requests or 0), int(max_tokens or 0)
        self.requests = self.tokens = self._reserved = 0
        self._lock = threading.Lock()

    def start(self, estimate: int) -> str | None:
        """Claim one request. Returns None if allowed, else the exhausted limit's name."""
        with self._lock:
            if self.max_requests and self.requests >= self.max_requests:
                return "max_requests"
            if self.max_tokens and self.tokens + self._reserved + estimate > self.max_tokens:
                return "max_tokens"
            self.requests += 1
            self._reserved += estimate
            return None

    def settle(self, estimate: int, actual: int) -> None:
        with self._lock:
            self._reserved -= estimate
            self.tokens += actual


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Split an integer total in proportion to weights; the parts sum to the total exactly."""
    if not weights:
        return []
    s = sum(weights) or float(len(weights))
    raw = [total * (w if sum(weights) else 1.0) / s for w in weights]
    parts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)[: total - sum(parts)]:
        parts[i] += 1
    return parts


class _BadReply(ValueError):
    def __init__(self, message: str, usage: tuple[int, int] = (0, 0)):
        super().__init__(message)
        self.usage = usage


_FENCE = re.compile(r"```(?:json|JSON)?\s*(\{.*?\})\s*```", re.S)


def parse_content(content: str, lenient: bool):
    """The JSON object in a message. Lenient (json_object/text modes): also inside a markdown
    fence or after prose, i.e. the first decodable object in the text."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        if not lenient:
            raise
    fenced = _FENCE.search(content)
    if fenced:
        try:
            return json.loads(fenced.group(1))
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", content):
        try:
            value, _ = decoder.raw_decode(content, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise json.JSONDecodeError("no JSON object in the content", content, 0)


def _read_reply(text: str, lenient: bool = False) -> tuple[object, int, int, str | None]:
    """(parsed message content, prompt_tokens, completion_tokens, finish_reason). Raises _BadReply
    for the failures seen in the wild: truncated or non-JSON bodies, a bare string, choices=None."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise _BadReply("body is not JSON") from None
    if not isinstance(data, dict):
        raise _BadReply("body is not an object")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    pt, ct = (int(usage.get(k) or 0) if isinstance(usage.get(k), (int, float)) else 0
              for k in ("prompt_tokens", "completion_tokens"))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _BadReply("no choices", (pt, ct))
    finish = choices[0].get("finish_reason")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise _BadReply("no message content", (pt, ct))
    if finish == "length":
        raise _BadReply("cut_off", (pt, ct))  # stopped by max_tokens: never complete JSON worth keeping
    try:
        return parse_content(content, lenient), pt, ct, finish
    except json.JSONDecodeError:
        raise _BadReply("content is not JSON", (pt, ct)) from None


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
        self.audit, self.run_id, self.stage, self.journal, self.reporter = audit, run_id, stage, journal, progress
        self.on_ok = on_ok
        self.batch_size = max(1, int(settings.llm_batch_size))
        self.concurrency = max(1, int(settings.llm_concurrency))
        self.timeout_s = float(settings.llm_timeout_s)
        self.max_attempts = max(1, knob(settings, "llm_max_attempts", 4))
        self.max_rate_limited = max(1, knob(settings, "llm_max_rate_limited", 8))
        self.item_tries = max(1, knob(settings, "llm_item_tries", 3))
        self.backoff_s = knob(settings, "llm_backoff_s", 1.0)
        self.backoff_max_s = knob(settings, "llm_backoff_max_s", 30.0)
        self.min_batch = max(1, min(self.batch_size, knob(settings, "llm_min_batch", max(1, self.batch_size // 4))))
        self.progress = knob(settings, "llm_progress", True)
        self.max_tokens_cap = max(16, int(getattr(settings, "llm_max_completion_tokens", 2048) or 2048))
        self.fallback_threshold = float(getattr(settings, "llm_fallback_threshold", 1.0)
                                        if getattr(settings, "llm_fallback_threshold", None) is not None else 1.0)
        wanted = (getattr(settings, "llm_response_format", "auto") or "auto").lower()
        if wanted != "auto" and wanted not in MODES:
            raise ValueError(f"llm_response_format must be auto or one of {', '.join(MODES)}, not {wanted!r}")
        self.modes = list(MODES) if wanted == "auto" else [wanted]
        self._mode = 0
        self.limiter = RateLimiter(settings.llm_requests_per_minute, settings.llm_tokens_per_minute,
                                   window_s=knob(settings, "llm_rate_window_s", 60.0),
                                   max_wait_s=knob(settings, "llm_max_wait_s", 60.0))
        self.budget = Budget(settings.llm_max_requests, settings.llm_max_tokens)
        self._completion_per_item = float(completion_per_item)
        # max_tokens per request: room for a reasoning preamble plus 3x the expected answer size,
        # the per-item size learned only from complete, valid replies, and never above the cap.
        self._max_completion = 384
        self._cond = threading.Condition()
        self._queue: deque[WorkItem] = deque()
        self._held = 0
        self._stop_reason: str | None = None
        self._fatal: BaseException | None = None
        self._stopped = threading.Event()
        self._rng = random.Random()
        self._egress: list[dict] = []
        self._fallback_reasons: Counter = Counter()
        self.stats = Counter()
        self._stats_lock = threading.Lock()  # workers update counters concurrently
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
        self._queue.extend(items)
        self._started = time.monotonic()
        self._pbar = tqdm(total=len(items), desc=f"{self.stage} via {self.provider.name}:{self.model}", unit="item",
                          disable=not self.progress, mininterval=0.5, leave=False)
        if self.reporter is not None:
            self.reporter.start(self.task, len(items), self.provider.name, self.model)
        workers = [threading.Thread(target=self._worker, name=f"llm-{i}", daemon=True)
                   for i in range(min(self.concurrency, len(items)))]
        try:
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            # Whatever egress stopped before reaching (budget, quota, auth) falls back locally.
            self._finish_fallback([it for it in items if it.state != "done"], self._fallback_reason(),
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
            raise LLMUnavailable(
                f"{failed} of {len(items)} items sent to {self.provider.name}:{self.model} fell back "
                f"({', '.join(f'{r}: {n}' for r, n in sorted(self._fallback_reasons.items()))}); more than "
                f"llm_fallback_threshold={self.fallback_threshold:g} allows. Their answers so far are kept.")

    def egress(self) -> pd.DataFrame:
        if not self._egress:
            return empty_egress()
        frame = pd.DataFrame(self._egress, columns=EGRESS_COLUMNS)
        frame["sent_at"] = pd.to_datetime(frame["sent_at"])
        return frame

    def _progress_counts(self) -> dict:
        with self._stats_lock:
            return {k: int(self.stats[k]) for k in ("done", "ok", "fallback", "blocked", "violation", "requests",
                                                     "retries", "timeouts", "rate_limited", "tokens")}

    # ------------------------------------------------------------------ queue
    def _take(self) -> list[WorkItem] | None:
        with self._cond:
            while True:
                if self._stop_reason:
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

    def _give_back(self, items: list[WorkItem]) -> None:
        with self._cond:
            for it in reversed(items):
                it.state = "queued"
                self._queue.appendleft(it)  # retried items go first
            self._held -= len(items)
            self._cond.notify_all()

    def _done(self, items: list[WorkItem], count_held: bool = True) -> None:
        with self._cond:
            for it in items:
                it.state = "done"
            if count_held:
                self._held -= len(items)
            self._cond.notify_all()
        if items:
            with self._stats_lock:
                self.stats["done"] += len(items)
                for it in items:
                    self.stats[it.status if it.status in ("ok", "blocked", "violation") else "fallback"] += 1
            if self.reporter is not None:
                self.reporter.update(self._progress_counts())
        if self._pbar is not None and items and not self._pbar.disable:
            # Current rate: tokens started within the limiter's window, scaled to a minute.
            rate = self.limiter.tokens_in_window() * 60 / self.limiter.window_s
            self._pbar.update(len(items))
            self._pbar.set_postfix(tokens=self.stats["tokens"], tok_per_min=int(rate),
                                   requests=self.stats["requests"], refresh=False)

    def _finish_fallback(self, items: list[WorkItem], reason: str, count_held: bool = True) -> None:
        if not items:
            return
        for it in items:
            it.status, it.reason = "fallback", reason
        with self._stats_lock:
            self._fallback_reasons[reason] += len(items)
        self._done(items, count_held)

    def _stop(self, reason: str) -> None:
        with self._cond:
            if self._stop_reason is None:
                self._stop_reason = reason
            self._cond.notify_all()
        self._stopped.set()

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _fallback_reason(self) -> str:
        if self._stop_reason in BUDGET_REASONS:
            return "budget_exhausted"
        return self._stop_reason or "not_processed"

    def _should_stop(self) -> bool:
        return self._stop_reason is not None

    # ------------------------------------------------------------------ one worker
    def _worker(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._process(batch)
            except (CapabilityError, WriteAheadError) as exc:  # an operator must act: stop everything
                self._fatal = self._fatal or exc
                self._stop("capability" if isinstance(exc, CapabilityError) else "write_ahead_failed")
                self._finish_fallback([it for it in batch if it.state == "held"], self._stop_reason)
            except Exception as exc:  # a bug must cost a fallback, never a lost item
                held = [it for it in batch if it.state == "held"]
                self.audit.event("llm_internal_error", "failed", error=type(exc).__name__, n_items=len(held))
                self._finish_fallback(held, "internal_error")

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
                    self._done([it])
                    continue
            clean.append(it)
        return clean

    def _estimate(self, items: list[WorkItem]) -> int:
        per_item = self._completion_per_item * 1.15
        return self.overhead + int(sum(it.tokens + per_item for it in items))

    def _process(self, batch: list[WorkItem]) -> None:
        batch = self._screen(batch)
        if not batch:
            return
        at_least = self._estimate(batch[: self.min_batch])
        reservation = self.limiter.reserve(self._estimate(batch), at_least, self._should_stop)
        if reservation is None:
            self._give_back(batch)
            return
        n = len(batch)
        while n > 1 and self._estimate(batch[:n]) > reservation.tokens:
            n -= 1  # use the capacity there is now rather than wait for a full batch's worth
        if n < len(batch):
            self._give_back(batch[n:])
            batch = batch[:n]

        refs = {f"r{i + 1}": it for i, it in enumerate(batch)}
        max_tokens = min(self.max_tokens_cap, int(self._max_completion + 3 * self._completion_per_item * len(batch)))
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
                             payload_sha256=hashlib.sha256(payload.encode()).hexdigest())
            self._done(batch)
            return
        estimate = prompts.estimate_tokens(len(payload)) + int(self._completion_per_item * 1.15 * len(batch))
        reservation.resize(estimate)
        self._send(body, payload, estimate, reservation, refs, mode)

    # ------------------------------------------------------------------ one request, with retries
    def _send(self, body: dict, payload: str, estimate: int, reservation, refs: dict[str, WorkItem],
              mode: str) -> None:
        request_id = uuid.uuid4().hex
        fallback_sha = hashlib.sha256(payload.encode()).hexdigest()
        attempts = prompt_tokens = completion_tokens = failures = limited = 0
        sent_body, sent_at, outcome, valid, invalid = None, None, None, {}, 0
        success_ct = 0  # completion tokens of the attempt whose reply was used (learning)
        started = time.perf_counter()
        for it in refs.values():
            it.tries += 1

        def wire(text: str) -> None:
            # Called right before the bytes leave: make the record durable first (write-ahead).
            nonlocal sent_body
            sent_body = text
            if self.journal is not None:
                self.journal.before_send(self.audit, dict(
                    request_id=request_id, run_id=self.run_id, stage=self.stage, provider=self.provider.name,
                    model=self.model, prompt_version=self.prompt_version, payload=text,
                    payload_sha256=hashlib.sha256(text.encode()).hexdigest(), n_items=len(refs),
                    sent_at=sent_at, outcome="sending", prompt_tokens=0, completion_tokens=0, latency_ms=None,
                    attempts=attempts), mode=mode)

        while True:
            if attempts:
                reservation = self.limiter.reserve(estimate, estimate, self._should_stop)
                if reservation is None:
                    outcome = self._stop_reason or "stopped"
                    break
            exhausted = self.budget.start(estimate)
            if exhausted:
                reservation.release()
                self._stop(exhausted)
                outcome = "budget_exhausted"
                break
            attempts += 1
            self._count("requests", 1)
            sent_at = sent_at or datetime.now(timezone.utc).replace(tzinfo=None)
            try:
                with on_wire(wire):
                    if not self.provider.reports_wire:
                        wire(payload)
                    reply = self.provider.send(body, self.timeout_s)
            except ProviderError as exc:
                sent_body = sent_body or exc.sent_body
                self.budget.settle(estimate, 0)
                retry_after = retry_after_seconds(exc.headers)
                if exc.kind == "rate_limited":
                    # A 429 says "later", not "broken": it has its own, larger allowance.
                    limited += 1
                    reservation.settle(0)  # refused: the server counted no tokens for it
                    self._count("rate_limited", 1)
                    if retry_after is not None and retry_after > 2 * self.limiter.max_wait_s:
                        self._stop("provider_quota")  # e.g. a daily quota: waiting it out is no option
                else:
                    reservation.settle(0)
                    failures += 1
                    if exc.kind == "timeout":
                        self._count("timeouts", 1)
                if exc.kind == "auth":
                    self._stop("auth_failed")
                if exc.kind == "capability":
                    outcome = "capability_rejected"
                    break
                if (not exc.retryable or failures >= self.max_attempts or limited >= self.max_rate_limited
                        or self._should_stop()):
                    outcome = exc.kind
                    break
                self._retry(exc.kind, exc.status_code, attempts, request_id, retry_after,
                            pause_all=exc.kind == "rate_limited")
                continue
            sent_body = sent_body or reply.sent_body
            try:
                self.limiter.observe(reply.headers, estimate)
            except QuotaExhausted:
                self._stop("provider_quota")
            reason = None
            try:
                content, pt, ct, _ = _read_reply(reply.body, lenient=mode != "json_schema")
            except _BadReply as exc:
                content, (pt, ct), reason = None, exc.usage, str(exc)
            prompt_tokens, completion_tokens = prompt_tokens + pt, completion_tokens + ct
            self._settle(reservation, estimate, pt + ct)
            if content is not None:
                try:
                    valid, invalid = self.validate(content)
                    outcome = "ok" if set(refs) <= set(valid) else "partial"
                    success_ct = ct
                    break
                except ValueError:
                    pass  # the envelope is wrong: the whole request is retried
            if reason == "cut_off":
                # max_tokens ran out: the same request would be cut again. Its items go back to
                # the queue (another batch, another try) instead of a retry storm.
                outcome = "cut_off"
                break
            failures += 1
            if failures >= self.max_attempts or self._should_stop():
                outcome = "invalid_response"
                break
            self._retry("invalid_response", reply.status_code, attempts, request_id, None, pause_all=False)
        if outcome == "capability_rejected":
            self._degrade(mode)  # before the items go back, so no worker resends them in the refused mode
        self._record(request_id, refs, outcome, valid, invalid, attempts, (sent_body or payload) if attempts else None,
                     fallback_sha, sent_at, prompt_tokens, completion_tokens, (time.perf_counter() - started) * 1000,
                     success_ct)

    def _degrade(self, rejected: str) -> None:
        """The endpoint rejected `rejected`: use the next weaker mode, or stop loudly if none is left."""
        with self._cond:
            if self.mode != rejected:
                return  # another worker already moved on
            if self._mode + 1 < len(self.modes):
                self._mode += 1
                self.audit.event("llm_capability_degraded", "degraded", task=self.task, provider=self.provider.name,
                                 model=self.model, rejected=rejected, now=self.mode)
                self._count("degraded", 1)
                return
        self._fatal = self._fatal or CapabilityError(
            f"{self.provider.name}:{self.model} rejected response_format {rejected!r} and no weaker format is allowed "
            f"(llm_response_format={'auto' if len(self.modes) > 1 else rejected}); set WORKBENCH_LLM_RESPONSE_FORMAT "
            "to a format the endpoint supports (json_schema, json_object or text)")
        self.audit.event("llm_capability_error", "failed", task=self.task, provider=self.provider.name,
                         model=self.model, rejected=rejected)
        self._stop("capability")

    def _settle(self, reservation, estimate: int, actual: int) -> None:
        # No usage reported (e.g. a truncated body): the server still billed it; assume the estimate.
        billed = actual or estimate
        reservation.settle(billed)
        self.budget.settle(estimate, billed)
        self._count("tokens", actual)

    def _retry(self, reason: str, status_code, attempt: int, request_id: str, retry_after, pause_all: bool) -> None:
        if retry_after is not None:
            # Jitter on top of the server's wait so the workers do not all come back at once.
            wait = min(retry_after, self.limiter.max_wait_s) + self._rng.uniform(0, 0.1 * retry_after + 0.01)
        else:
            ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
            wait = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        self._count("retries", 1)
        self.audit.event("llm_retry", "retry", reason=reason, status_code=status_code, attempt=attempt,
                         wait_s=round(wait, 3), request_id=request_id, provider=self.provider.name)
        if pause_all:
            self.limiter.pause(wait)  # a 429 is about the whole key, not this request
        else:
            self._stopped.wait(wait)

    # ------------------------------------------------------------------ bookkeeping
    def _record(self, request_id, refs, outcome, valid, invalid, attempts, sent, fallback_sha, sent_at,
                prompt_tokens, completion_tokens, latency_ms, success_ct=0) -> None:
        items = list(refs.values())
        sha = hashlib.sha256(sent.encode()).hexdigest() if sent else fallback_sha
        if attempts:
            row = dict(
                request_id=request_id, run_id=self.run_id, stage=self.stage, provider=self.provider.name,
                model=self.model, prompt_version=self.prompt_version, payload=sent, payload_sha256=sha,
                n_items=len(items), sent_at=sent_at, outcome=outcome, prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens, latency_ms=round(latency_ms, 1), attempts=attempts)
            self._egress.append(row)
            self.audit.event("llm_request", "ok" if outcome == "ok" else "failed" if not valid else "partial",
                             provider=self.provider.name, model=self.model, prompt_version=self.prompt_version,
                             payload_sha256=sha, n_items=len(items), prompt_tokens=prompt_tokens,
                             completion_tokens=completion_tokens, latency_ms=round(latency_ms, 1),
                             attempts=attempts, outcome=outcome, request_id=request_id,
                             valid_results=len(set(valid) & set(refs)), invalid_results=invalid,
                             unknown_refs=len(set(valid) - set(refs)))
        self._count("prompt_tokens", prompt_tokens)
        self._count("completion_tokens", completion_tokens)
        self._count("unknown_refs", len(set(valid) - set(refs)))
        for it, share in zip(items, _apportion(prompt_tokens, [it.tokens for it in items])):
            it.prompt_tokens += share
        for it, share in zip(items, _apportion(completion_tokens, [1.0] * len(items))):
            it.completion_tokens += share
        answered = [r for r in refs if r in valid]
        if outcome == "ok" and success_ct:
            # Learn the completion size per item from complete, valid replies only: failed and
            # cut-off attempts say nothing about how long a good answer is.
            self._completion_per_item = 0.7 * self._completion_per_item + 0.3 * success_ct / len(items)
        flagged = self.guard({r: refs[r] for r in answered}, {r: valid[r] for r in answered}) if (
            self.guard and answered) else {}
        ok, retry, failed, violated = [], [], [], []
        for ref, it in refs.items():
            if ref in flagged:
                it.status, it.reason = "violation", ",".join(flagged[ref])
                violated.append(it)
                # One event per item, with all its reasons (never the text); never retried.
                self.audit.event("llm_output_violation", "policy_fallback", task=self.task, rules=flagged[ref],
                                 request_id=request_id, provider=self.provider.name, model=self.model, n_items=1)
            elif ref in valid:
                it.result = {k: v for k, v in valid[ref].items() if k != "ref"}
                it.status = "ok"
                ok.append(it)
            elif outcome in ("ok", "partial", "cut_off", "capability_rejected") and (
                    it.tries < self.item_tries or outcome == "capability_rejected") and not self._should_stop():
                if outcome == "capability_rejected":
                    it.tries -= 1  # the format was refused, not the item: it has not had its try
                retry.append(it)
            else:
                failed.append(it)
        if self.journal is not None:
            self.journal.after(self.audit, request_id, outcome, prompt_tokens, completion_tokens,
                               round(latency_ms, 1), attempts, sent if attempts else None)
        if ok and self.on_ok is not None:
            self.on_ok(ok)  # persisted as they arrive (the cache): a resumed stage does not pay twice
        self._done(ok)
        self._done(violated)
        if retry:
            self._count("requeued", len(retry))
            self.audit.event("llm_retry", "retry", reason="missing_or_invalid_results" if outcome != "capability_rejected"
                             else "capability_degraded", n_items=len(retry), request_id=request_id,
                             provider=self.provider.name)
            self._give_back(retry)
        if failed:
            reason = (self._fallback_reason() if outcome in ("budget_exhausted", "stopped") or outcome == self._stop_reason
                      else outcome if outcome not in ("ok", "partial") else "invalid_results")
            self._finish_fallback(failed, reason)

    def _close_run(self) -> None:
        self.stats["elapsed_s"] = round(time.monotonic() - self._started, 3)
        self.stats["limiter_wait_s"] = round(self.limiter.waited_s, 3)
        for reason, n in sorted(self._fallback_reasons.items()):
            self.audit.event("llm_fallback", "fallback", task=self.task, reason=reason, n_items=n)
        if self._stop_reason in BUDGET_REASONS:
            self.audit.event("llm_budget_exhausted", "stopped", task=self.task, reason=self._stop_reason,
                             requests_used=self.budget.requests, tokens_used=self.budget.tokens,
                             max_requests=self.budget.max_requests, max_tokens=self.budget.max_tokens,
                             items_fallback=self._fallback_reasons["budget_exhausted"])
        elif self._stop_reason:
            self.audit.event("llm_egress_stopped", "stopped", task=self.task, reason=self._stop_reason)
        self.stats["fallbacks"] = sum(self._fallback_reasons.values())
        self.stats["output_violations"] = self.stats["violation"]
        self.stats["response_format"] = self.mode
        self.stats["budget_exhausted"] = self._stop_reason in BUDGET_REASONS
        self.stats["stop_reason"] = self._stop_reason
