"""Recording of the request engine: what left the machine and what came of it.

Every request gets one `llm_egress` row (the exact bytes sent, their sha256, outcome, tokens,
latency, attempts) and one `llm_request` audit event (counts and hashes only, never text).
With a journal (journal.py) each attempt is written ahead: `write_ahead` runs from the
provider's request hook with the exact bytes, before they reach the socket, and `close` sets
the outcome afterwards. Without one (library use, tests) the rows stay in memory for the caller.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd

from .journal import EGRESS_COLUMNS


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def empty_egress() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "sent_at" else object) for c in EGRESS_COLUMNS})


class Recorder:
    """The egress record of one task in one stage of one run."""

    def __init__(self, *, audit, journal, run_id: str, stage: str, provider: str, model: str, prompt_version: str):
        self.audit, self.journal = audit, journal
        self._who = dict(run_id=run_id, stage=stage, provider=provider, model=model, prompt_version=prompt_version)
        self._rows: list[dict] = []

    def write_ahead(self, request_id: str, text: str, n_items: int, sent_at: datetime, attempts: int,
                    mode: str) -> None:
        """Make one attempt durable, exactly as it will be sent (no-op without a journal)."""
        if self.journal is not None:
            self.journal.before_send(self.audit, dict(
                request_id=request_id, **self._who, payload=text, payload_sha256=sha256_text(text),
                n_items=n_items, sent_at=sent_at, outcome="sending", prompt_tokens=0, completion_tokens=0,
                latency_ms=None, attempts=attempts), mode=mode)

    def request(self, request_id: str, *, outcome: str, sent: str, sha: str, n_items: int, sent_at: datetime,
                attempts: int, prompt_tokens: int, completion_tokens: int, latency_ms: float,
                valid_results: int, invalid_results: int, unknown_refs: int, answered: bool) -> None:
        """The egress row and the audit event of a request that was sent (at least one attempt)."""
        row = dict(request_id=request_id, **self._who, payload=sent, payload_sha256=sha, n_items=n_items,
                   sent_at=sent_at, outcome=outcome, prompt_tokens=prompt_tokens,
                   completion_tokens=completion_tokens, latency_ms=round(latency_ms, 1), attempts=attempts)
        self._rows.append(row)
        who = {k: self._who[k] for k in ("provider", "model", "prompt_version")}
        self.audit.event("llm_request", "ok" if outcome == "ok" else "partial" if answered else "failed",
                         **who, payload_sha256=sha, n_items=n_items, prompt_tokens=prompt_tokens,
                         completion_tokens=completion_tokens, latency_ms=round(latency_ms, 1),
                         attempts=attempts, outcome=outcome, request_id=request_id,
                         valid_results=valid_results, invalid_results=invalid_results, unknown_refs=unknown_refs)

    def close(self, request_id: str, outcome: str, prompt_tokens: int, completion_tokens: int, latency_ms: float,
              attempts: int, sent: str | None) -> None:
        """The journal's row gets its outcome (and the pending audit events are committed)."""
        if self.journal is not None:
            self.journal.after(self.audit, request_id, outcome, prompt_tokens, completion_tokens,
                               round(latency_ms, 1), attempts, sent)

    def egress(self) -> pd.DataFrame:
        """The llm_egress rows of every request sent so far."""
        if not self._rows:
            return empty_egress()
        frame = pd.DataFrame(self._rows, columns=EGRESS_COLUMNS)
        frame["sent_at"] = pd.to_datetime(frame["sent_at"])
        return frame
