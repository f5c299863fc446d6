"""Client-side rate limiting: requests and tokens per minute, plus what the server tells us.

The limiter is a sliding window: at most `rpm` requests and `tpm` tokens were *started* within
any `window_s`. That never exceeds a server that counts per sliding window or per token bucket
(which is why it is used rather than a token bucket, which may burst past a window-counting
server), and a small run still goes out at once instead of being paced.

Tokens are reserved before sending (an estimate), trimmed once the batch is chosen, and settled
to the real `usage` afterwards. Server signals override our arithmetic: `retry-after(-ms)` on a
429 pauses every worker, and `x-ratelimit-remaining-*` / `x-ratelimit-reset-*` pause us before
the server has to say no.
"""
from __future__ import annotations

import email.utils
import re
import threading
import time
from typing import Callable

from ..errors import QuotaExhausted

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str | None) -> float | None:
    """'7.66s', '2m59.56s', '250ms', '1h0m0s' or a bare number of seconds -> seconds."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms, else retry-after (seconds or HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


class Reservation:
    """A started request in the window; its token count is corrected as we learn more."""

    def __init__(self, limiter: "RateLimiter", entry: list):
        self._limiter, self._entry = limiter, entry

    @property
    def tokens(self) -> int:
        return self._entry[1]

    def resize(self, tokens: int) -> None:
        self._limiter._update(self._entry, tokens=max(0, int(tokens)))

    def settle(self, tokens: int) -> None:
        """The real count, known once the response is in. The entry is re-stamped to now: a
        server may count the request when it arrives or when it finishes, never before we sent it."""
        self._limiter._update(self._entry, tokens=max(0, int(tokens)), restamp=True)

    def release(self) -> None:
        """Not sent after all: give back the request slot and the tokens."""
        self._limiter._update(self._entry, tokens=0, counted=False)


class RateLimiter:
    def __init__(self, rpm: int | None, tpm: int | None, window_s: float = 60.0, max_wait_s: float = 60.0):
        self.rpm = int(rpm or 0)          # 0 = no limit
        self.tpm = int(tpm or 0)
        self.window_s = float(window_s)
        # Entries are re-stamped when the reply arrives (after any server-side stamp); the small
        # margin covers a server that rounds its window up.
        self._horizon = self.window_s * 1.005
        self.max_wait_s = float(max_wait_s)
        self._entries: list[list] = []  # [stamped_at, tokens, counts_as_request]; few (<= rpm)
        self._paused_until = 0.0
        self._cond = threading.Condition()
        self.waited_s = 0.0

    # -- window arithmetic (call with the lock held)
    def _prune(self, now: float) -> None:
        cutoff = now - self._horizon
        if any(e[0] <= cutoff for e in self._entries):
            self._entries = [e for e in self._entries if e[0] > cutoff]

    def _usage(self, now: float) -> tuple[int, int]:
        self._prune(now)
        return sum(1 for e in self._entries if e[2]), sum(e[1] for e in self._entries)

    def _update(self, entry: list, tokens: int, counted: bool | None = None, restamp: bool = False) -> None:
        with self._cond:
            entry[1] = tokens
            if counted is not None:
                entry[2] = counted
            if restamp:
                entry[0] = max(entry[0], time.monotonic())
            self._cond.notify_all()

    def available(self) -> int:
        """Tokens that could be started right now (a large number when tokens are unlimited)."""
        with self._cond:
            _, used = self._usage(time.monotonic())
            return max(0, self.tpm - used) if self.tpm else 1 << 30

    def tokens_in_window(self) -> int:
        with self._cond:
            return self._usage(time.monotonic())[1]

    # -- the blocking call
    def reserve(self, want: int, at_least: int, should_stop: Callable[[], bool] = lambda: False) -> Reservation | None:
        """Wait for a request slot and at least `at_least` tokens; reserve up to `want`.

        Returns None if `should_stop()` turns true while waiting.
        """
        if self.tpm:
            at_least = min(at_least, self.tpm)  # a request larger than the limit would wait forever
        started = time.monotonic()
        with self._cond:
            while True:
                if should_stop():
                    return None
                now = time.monotonic()
                wait = self._paused_until - now
                if wait <= 0:
                    n_requests, used = self._usage(now)
                    free = self.tpm - used if self.tpm else want
                    if (not self.rpm or n_requests < self.rpm) and free >= at_least:
                        entry = [now, int(min(want, free)), True]
                        self._entries.append(entry)
                        self.waited_s += now - started
                        return Reservation(self, entry)
                    # Nothing frees up before the oldest entry leaves the window (or a settle).
                    wait = (min(e[0] for e in self._entries) + self._horizon - now) if self._entries else 0.05
                self._cond.wait(timeout=min(max(wait, 0.005), 0.25))

    # -- what the server says
    def pause(self, seconds: float) -> float:
        """Stop starting requests for `seconds` (capped at max_wait_s). Returns the pause applied."""
        seconds = min(max(0.0, float(seconds)), self.max_wait_s)
        with self._cond:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            self._cond.notify_all()
        return seconds

    def observe(self, headers: dict[str, str], next_request_tokens: int) -> float:
        """Apply x-ratelimit-* headers from any response. Returns the pause applied (seconds).

        Raises QuotaExhausted when no request is left and the reset is further away than we wait.
        """
        if not headers:
            return 0.0
        remaining_requests = _int(headers.get("x-ratelimit-remaining-requests"))
        reset_requests = parse_duration(headers.get("x-ratelimit-reset-requests"))
        if remaining_requests is not None and remaining_requests <= 0 and reset_requests:
            if reset_requests > self.max_wait_s:
                raise QuotaExhausted(f"request quota exhausted for {reset_requests:.0f}s")
            return self.pause(reset_requests)
        remaining = _int(headers.get("x-ratelimit-remaining-tokens"))
        reset = parse_duration(headers.get("x-ratelimit-reset-tokens"))
        limit = _int(headers.get("x-ratelimit-limit-tokens"))
        if remaining is None or reset is None or remaining >= next_request_tokens:
            return 0.0
        # The server refills towards `limit` over `reset` seconds: wait for just the shortfall.
        wait = reset
        if limit and limit > remaining:
            wait = min(reset, (next_request_tokens - remaining) * reset / (limit - remaining))
        return self.pause(wait)
