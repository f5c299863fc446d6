"""What became of one request's items, once the request has ended (attempts.py).

The request is recorded (recording.py); its tokens are shared out over its items; the answered
items pass the task's output guard (a result whose text may not be stored is a violation, never
retried) and are persisted as they arrive; unanswered items go back to the queue while they
have tries left (or without using one: the endpoint refused the response format, or the request
went out under settings since changed for a slow endpoint); the rest fall back locally.
"""
from __future__ import annotations

from .attempts import RequestResult
from .recording import sha256_text
from .workqueue import WorkItem

# Outcomes after which a request's unanswered items may be sent again (in another batch).
REQUEUE_OUTCOMES = ("ok", "partial", "cut_off", "capability_rejected")


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


def settle_request(engine, refs: dict[str, WorkItem], result: RequestResult, payload: str) -> None:
    """Record the request, then settle each of its items: ok, violation, again, or fallback."""
    items = list(refs.values())
    outcome, valid = result.outcome, result.valid
    sent = (result.sent_body or payload) if result.attempts else None
    if result.attempts:
        engine.recorder.request(result.request_id, outcome=outcome, sent=sent, sha=sha256_text(sent),
                                n_items=len(items), sent_at=result.sent_at, attempts=result.attempts,
                                prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                                latency_ms=result.latency_ms, valid_results=len(set(valid) & set(refs)),
                                invalid_results=result.invalid, unknown_refs=len(set(valid) - set(refs)),
                                answered=bool(valid))
    engine.count("prompt_tokens", result.prompt_tokens)
    engine.count("completion_tokens", result.completion_tokens)
    engine.count("unknown_refs", len(set(valid) - set(refs)))
    for it, share in zip(items, _apportion(result.prompt_tokens, [it.tokens for it in items])):
        it.prompt_tokens += share
    for it, share in zip(items, _apportion(result.completion_tokens, [1.0] * len(items))):
        it.completion_tokens += share
    answered = [r for r in refs if r in valid]
    if outcome == "ok" and result.success_ct:
        # Learn the completion size per item from complete, valid replies only: failed and
        # cut-off attempts say nothing about how long a good answer is.
        engine.completion_per_item = 0.7 * engine.completion_per_item + 0.3 * result.success_ct / len(items)
    flagged = engine.guard({r: refs[r] for r in answered}, {r: valid[r] for r in answered}) if (
        engine.guard and answered) else {}
    # The format was refused, or the request went out under settings since changed for a slow
    # endpoint: the items have not had their try.
    free_retry = outcome == "capability_rejected" or result.requeue
    ok, again, failed, violated = [], [], [], []
    for ref, it in refs.items():
        if ref in flagged:
            it.status, it.reason = "violation", ",".join(flagged[ref])
            violated.append(it)
            # One event per item, with all its reasons (never the text); never retried.
            engine.audit.event("llm_output_violation", "policy_fallback", task=engine.task, rules=flagged[ref],
                               request_id=result.request_id, provider=engine.provider.name, model=engine.model,
                               n_items=1)
        elif ref in valid:
            it.result = {k: v for k, v in valid[ref].items() if k != "ref"}
            it.status = "ok"
            ok.append(it)
        elif (free_retry or (outcome in REQUEUE_OUTCOMES and it.tries < engine.item_tries)) \
                and not engine.queue.should_stop():
            if free_retry:
                it.tries -= 1
            again.append(it)
        else:
            failed.append(it)
    engine.recorder.close(result.request_id, outcome, result.prompt_tokens, result.completion_tokens,
                          result.latency_ms, result.attempts, sent)
    if ok and engine.on_ok is not None:
        engine.on_ok(ok)  # persisted as they arrive (the cache): a resumed stage does not pay twice
    engine.queue.done(ok)
    engine.queue.done(violated)
    if again:
        engine.count("requeued", len(again))
        reason = ("capability_degraded" if outcome == "capability_rejected" else "endpoint_adapted"
                  if result.requeue else "missing_or_invalid_results")
        engine.audit.event("llm_retry", "retry", reason=reason, n_items=len(again), request_id=result.request_id,
                           provider=engine.provider.name)
        engine.queue.give_back(again)
    if failed:
        stop_reason = engine.queue.stop_reason
        reason = (engine.fallback_reason() if outcome in ("budget_exhausted", "stopped") or outcome == stop_reason
                  else outcome if outcome not in ("ok", "partial") else "invalid_results")
        engine.finish_fallback(failed, reason)

