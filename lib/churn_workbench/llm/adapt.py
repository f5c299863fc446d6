"""A slow endpoint, recognised by its first answers, and what the engine does about it.

The defaults suit a fast cloud API: several requests in flight, several items per request, a
30 s timeout. A private model on a CPU (one llama.cpp slot) answers one request at a time and
takes seconds per item, so with the defaults every request queues behind the others and times
out. The request engine reports each attempt's latency (or its timeout) here. When at least
half of the first answers took more than SLOW_SHARE of the timeout, or timed out, the endpoint
is slow: the engine drops to one request at a time and one item per request, and raises the
timeout to `llm_adapt_max_timeout_s` -- what `--llm-profile local-cpu` sets from the start. It
audits that (`llm_endpoint_adapted`) and says so in one line naming the profile and settings.

After that (or at once, when nothing is left to lower), GIVE_UP_AFTER timeouts in a row under
the final settings mean no answer is coming: the engine stops sending (`endpoint_too_slow`)
rather than spend the timeout on every item, and its failure names what to set
(`too_slow_hint`). `llm_adapt=false` keeps the settings as given, and nothing is stopped early.
"""
from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass

SLOW_SHARE = 0.5     # an answer taking more than this share of the timeout is slow
GIVE_UP_AFTER = 2    # timeouts in a row under the final settings: stop sending
PROFILE_HINT = "--llm-profile local-cpu"


@dataclass(frozen=True)
class Limits:
    concurrency: int
    batch_size: int
    timeout_s: float


@dataclass(frozen=True)
class Adaptation:
    slow: int          # slow answers and timeouts among ...
    seen: int          # ... the first answers observed
    slowest_s: float   # the slowest of them (a timeout counts as its timeout)
    before: Limits
    after: Limits

    def details(self) -> dict:
        """The audit event's fields (numbers only)."""
        return {"slow_answers": self.slow, "first_answers": self.seen, "slowest_s": round(self.slowest_s, 3),
                **{f"{k}_before": v for k, v in asdict(self.before).items()},
                **{f"{k}_after": v for k, v in asdict(self.after).items()}}

    def line(self, provider: str, model: str) -> str:
        """One line for the operator: what was seen, what changed, and how to start that way."""
        a, timeout = self.after, self.before.timeout_s
        if self.seen > 1:
            seen = (f"{self.slow} of its first {self.seen} answers took over {SLOW_SHARE:.0%} of the {timeout:g} s "
                    f"timeout or timed out")
        elif self.slowest_s >= timeout:
            seen = f"its first request timed out after {timeout:g} s"
        else:
            seen = f"its first answer took {self.slowest_s:.1f} s of the {timeout:g} s timeout"
        return (f"LLM endpoint {provider}:{model} is slow ({seen}): now {a.concurrency} "
                f"request at a time, {a.batch_size} item per request, timeout {a.timeout_s:g} s. To start that way, "
                f"run with {PROFILE_HINT} (or set WORKBENCH_LLM_CONCURRENCY={a.concurrency} "
                f"WORKBENCH_LLM_BATCH_SIZE={a.batch_size} WORKBENCH_LLM_TIMEOUT={a.timeout_s:g}).")


class SlowEndpointWatch:
    """Thread-safe: workers report every attempt's latency or timeout with `observe`.

    `generation` counts adaptations; an attempt sent under an older one says nothing about the
    current settings and is ignored.
    """

    def __init__(self, limits: Limits, max_timeout_s: float, enabled: bool = True):
        self.limits = limits
        self.max_timeout_s = float(max_timeout_s)
        self.generation = 0
        self.adaptation: Adaptation | None = None
        self.hopeless = False        # no answer is coming under the final settings
        self._first = max(2, limits.concurrency)  # how many answers make the first impression
        self._seen = self._slow = 0
        self._slowest = 0.0
        self._watching = enabled     # still forming the first impression
        self._final = False          # the settings are final for a slow endpoint: count timeouts
        self._timeouts_in_row = 0
        self._lock = threading.Lock()

    def current(self) -> tuple[int, Limits]:
        """The generation and the limits in force, read together: a request is sized and timed by
        one of them, never half of each."""
        with self._lock:
            return self.generation, self.limits

    def observe(self, latency_s: float, timed_out: bool, generation: int) -> Adaptation | None:
        """One attempt's latency (or its timeout). Returns the adaptation to apply, once."""
        with self._lock:
            if generation != self.generation:
                return None
            if self._final:
                self._timeouts_in_row = self._timeouts_in_row + 1 if timed_out else 0
                self.hopeless = self.hopeless or self._timeouts_in_row >= GIVE_UP_AFTER
                return None
            if not self._watching:
                return None
            self._seen += 1
            slow = timed_out or latency_s > SLOW_SHARE * self.limits.timeout_s
            self._slow += slow
            self._slowest = max(self._slowest, self.limits.timeout_s if timed_out else latency_s)
            if self._slow < math.ceil(self._first / 2):
                self._watching = self._seen < self._first
                return None
            self._watching, self._final = False, True
            before = self.limits
            after = Limits(1, 1, max(before.timeout_s, self.max_timeout_s))
            if after == before:
                # Nothing left to lower or raise: the settings are already those of a slow endpoint.
                self._timeouts_in_row = int(timed_out)
                return None
            self.limits, self.generation = after, self.generation + 1
            self.adaptation = Adaptation(self._slow, self._seen, self._slowest, before, after)
            return self.adaptation


def too_slow_hint(limits: Limits) -> str:
    """What to set when the endpoint still did not answer in time (for the stage's failure)."""
    if limits.concurrency > 1 or limits.batch_size > 1:
        return (f"The endpoint answers too slowly for {limits.concurrency} requests at a time with "
                f"{limits.batch_size} items each and a {limits.timeout_s:g} s timeout: for a private model on a CPU "
                f"run with {PROFILE_HINT}, or set WORKBENCH_LLM_CONCURRENCY=1 WORKBENCH_LLM_BATCH_SIZE=1 "
                f"WORKBENCH_LLM_TIMEOUT=300.")
    longer = max(300, int(2 * limits.timeout_s))
    return (f"The endpoint did not answer within {limits.timeout_s:g} s even one item at a time: set "
            f"WORKBENCH_LLM_TIMEOUT={longer}, or use a smaller model or a faster server.")
