"""Build-once helpers for the expensive process-wide objects (analyzer, word lists)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def build_once(builder: Callable[[], T]) -> Callable[[], T]:
    """Wrap a no-argument builder so it runs once per process, also when several threads ask
    at the same time (the LLM batcher's workers do); `.cache_clear()` forces a rebuild."""
    lock = threading.Lock()
    built: list[T] = []

    @functools.wraps(builder)
    def get() -> T:
        if not built:
            with lock:
                if not built:
                    built.append(builder())
        return built[0]

    get.cache_clear = built.clear  # type: ignore[attr-defined]
    return get
