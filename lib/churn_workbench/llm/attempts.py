"""One request with its retries: send, read the reply, and retry what is worth retrying.

Each attempt takes a slot in the rate limiter (the first one's was taken by the caller) and a
claim on the run's budget, is recorded before it leaves (recording.py, from the provider's
request hook), and is sent exactly once by the provider. What happens next depends on the
failure: a 429 has its own, larger allowance and pauses every worker; 5xx, timeouts, broken
connections and unreadable replies are retried with exponential backoff and equal jitter (or the
server's retry-after); an auth failure stops all egress; a rejected request and a refused
response format are not retried. A reply cut off by max_tokens ends the request: its items go
back to the queue instead of repeating the same cut.

`send_with_retries` works on the engine's shared state (limiter, budget, queue, watch, stats);
its result says how the request ended, and the engine resolves the items from it.
"""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import ProviderError, QuotaExhausted, UnreadableReply
from .base import on_wire
from .ratelimit import retry_after_seconds
from .replies import read_reply


@dataclass(frozen=True)
class RetryPolicy:
    """How often one request is tried, and how long to wait in between."""

    max_attempts: int = 4        # failures (5xx, timeout, connection, unreadable reply) per request
    max_rate_limited: int = 8    # 429s per request
    backoff_s: float = 1.0       # exponential backoff base ...
    backoff_max_s: float = 30.0  # ... and ceiling

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        return cls(max_attempts=max(1, int(settings.llm_max_attempts)),
                   max_rate_limited=max(1, int(settings.llm_max_rate_limited)),
                   backoff_s=float(settings.llm_backoff_s), backoff_max_s=float(settings.llm_backoff_max_s))

    def wait_s(self, attempt: int, retry_after: float | None, max_wait_s: float, rng: random.Random) -> float:
        if retry_after is not None:
            # Jitter on top of the server's wait so the workers do not all come back at once.
            return min(retry_after, max_wait_s) + rng.uniform(0, 0.1 * retry_after + 0.01)
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class RequestResult:
    """How one request ended. `outcome`: ok | partial | cut_off | capability_rejected |
    budget_exhausted | stopped | invalid_response | a ProviderError kind."""

    request_id: str
    outcome: str = "stopped"
    valid: dict = field(default_factory=dict)   # ref -> validated result
    invalid: int = 0                            # results that failed validation
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    success_ct: int = 0           # completion tokens of the attempt whose reply was used (learning)
    sent_body: str | None = None  # the exact bytes that left, as the provider reported them
    sent_at: datetime | None = None
    requeue: bool = False         # the items go back without using a try (sent under settings since changed)
    latency_ms: float = 0.0


def send_with_retries(engine, body: dict, payload: str, estimate: int, reservation, refs: list[str],
                      mode: str, generation: int, timeout_s: float) -> RequestResult:
    """Send `body` (its compact JSON text is `payload`; `refs`: its items' refs) until it is
    answered or given up.

    `reservation`: the limiter slot of the first attempt. `generation`, `timeout_s`: the
    slow-endpoint settings the request was sized under (adapt.py); once the engine has changed
    them, the request is not tried again as it is: its items go back to be sent under the new
    ones, without using up a try. Never raises for a failed attempt;
    raises WriteAheadError if an attempt could not be recorded (nothing was sent then).
    """
    result = RequestResult(uuid.uuid4().hex)
    n_items = len(refs)
    failures = limited = 0
    started = time.perf_counter()
    policy = engine.policy

    def wire(text: str) -> None:
        # Called right before the bytes leave: make the record durable first (write-ahead).
        result.sent_body = text
        engine.recorder.write_ahead(result.request_id, text, n_items, result.sent_at, result.attempts, mode)

    def retry(reason: str, status_code, retry_after, pause_all: bool) -> None:
        wait = policy.wait_s(result.attempts, retry_after, engine.limiter.max_wait_s, engine.rng)
        engine.count("retries", 1)
        engine.audit.event("llm_retry", "retry", reason=reason, status_code=status_code, attempt=result.attempts,
                           wait_s=round(wait, 3), request_id=result.request_id, provider=engine.provider.name)
        if pause_all:
            engine.limiter.pause(wait)  # a 429 is about the whole key, not this request
        else:
            engine.queue.stopped.wait(wait)

    def stale() -> bool:
        """Sized and timed for settings the engine has since changed (a slow endpoint): the items
        go back to be re-batched under the new ones instead of this request being tried again."""
        result.requeue = generation != engine.watch.generation
        return result.requeue

    while True:
        if result.attempts and stale():
            break  # (the outcome is the last attempt's)
        if result.attempts:
            reservation = engine.limiter.reserve(estimate, estimate, engine.queue.should_stop)
            if reservation is None:
                result.outcome = engine.queue.stop_reason or "stopped"
                break
        exhausted = engine.budget.start(estimate)
        if exhausted:
            reservation.release()
            engine.stop(exhausted)
            result.outcome = "budget_exhausted"
            break
        result.attempts += 1
        engine.count("requests", 1)
        result.sent_at = result.sent_at or datetime.now(timezone.utc).replace(tzinfo=None)
        try:
            with on_wire(wire):
                if not engine.provider.reports_wire:
                    wire(payload)
                reply = engine.provider.send(body, timeout_s)
        except ProviderError as exc:
            result.sent_body = result.sent_body or exc.sent_body
            engine.budget.settle(estimate, 0)
            reservation.settle(0)  # refused or failed: the server counted no tokens for it
            retry_after = retry_after_seconds(exc.headers)
            if exc.kind == "rate_limited":
                # A 429 says "later", not "broken": it has its own, larger allowance.
                limited += 1
                engine.count("rate_limited", 1)
                if retry_after is not None and retry_after > 2 * engine.limiter.max_wait_s:
                    engine.stop("provider_quota")  # e.g. a daily quota: waiting it out is no option
            else:
                failures += 1
            if exc.kind == "timeout":
                engine.count("timeouts", 1)
                engine.observe_latency(exc.latency_ms or timeout_s * 1000, True, generation)
            if exc.kind == "auth":
                engine.stop("auth_failed")
            if exc.kind == "capability":
                result.outcome = "capability_rejected"
                break
            result.outcome = exc.kind
            if exc.retryable and stale():
                break
            if (not exc.retryable or failures >= policy.max_attempts or limited >= policy.max_rate_limited
                    or engine.queue.should_stop()):
                break
            retry(exc.kind, exc.status_code, retry_after, pause_all=exc.kind == "rate_limited")
            continue
        result.sent_body = result.sent_body or reply.sent_body
        engine.observe_latency(reply.latency_ms, False, generation)
        try:
            engine.limiter.observe(reply.headers, estimate)
        except QuotaExhausted:
            engine.stop("provider_quota")
        reason = None
        try:
            content, pt, ct, _ = read_reply(reply.body, lenient=mode != "json_schema")
        except UnreadableReply as exc:
            content, (pt, ct), reason = None, exc.usage, str(exc)
        result.prompt_tokens += pt
        result.completion_tokens += ct
        engine.settle_tokens(reservation, estimate, pt + ct)
        if content is not None:
            try:
                result.valid, result.invalid = engine.validate(content)
                result.outcome = "ok" if result.valid.keys() >= set(refs) else "partial"
                result.success_ct = ct
                break
            except ValueError:
                pass  # the envelope is wrong: the whole request is retried
        if reason == "cut_off":
            # max_tokens ran out: the same request would be cut again. Its items go back to
            # the queue (another batch, another try) instead of a retry storm.
            result.outcome = "cut_off"
            break
        failures += 1
        result.outcome = "invalid_response"
        if stale() or failures >= policy.max_attempts or engine.queue.should_stop():
            break
        retry("invalid_response", reply.status_code, None, pause_all=False)
    if not result.attempts:
        result.sent_body = None
    result.latency_ms = (time.perf_counter() - started) * 1000
    return result

