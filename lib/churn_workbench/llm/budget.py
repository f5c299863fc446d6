"""The per-run ceiling on LLM requests and tokens (`llm_max_requests`, `llm_max_tokens`)."""
from __future__ import annotations

import threading

BUDGET_REASONS = ("max_requests", "max_tokens", "provider_quota")


class Budget:
    """Requests and tokens used by one stage's LLM work. In-flight estimates count until settled."""

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
