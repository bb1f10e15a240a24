"""Rate-limited logging for background threads.

A failing endpoint must not flood the application's logs: each kind of
message is logged at most once per interval, with the number held back.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["RateLimitedLogger"]


class RateLimitedLogger:
    """Logs each ``key`` at most once per ``interval`` seconds."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self._logger = logger
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            message += " (%d similar messages suppressed)"
            args = (*args, held)
        self._logger.log(level, message, *args)
