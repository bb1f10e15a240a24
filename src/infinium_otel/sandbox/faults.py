"""Scripted misbehaviour for the sandbox: each request may consume one queued fault."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from infinium_otel.settings import is_loopback_host

ENDPOINTS = ("trace", "interpretation")


@dataclass(frozen=True)
class Fault:
    """One scripted answer that replaces normal handling of a single request.

    ``delay`` sleeps before answering (longer than a client's timeout simulates a
    slow server); ``drop`` closes the connection without any answer; ``location``
    is sent as ``Location`` (for 3xx answers); ``repeat`` queues the same fault
    that many times.
    """

    status: int = 503
    body: dict[str, Any] | list[Any] | str | bytes | None = None
    headers: dict[str, str] | None = None
    retry_after: str | None = None
    delay: float = 0.0
    drop: bool = False
    location: str | None = None
    repeat: int = 1

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"Fault status must be an HTTP status code, got {self.status}")
        if self.delay < 0:
            raise ValueError("Fault delay must not be negative")
        if self.repeat < 1:
            raise ValueError("Fault repeat must be at least 1")
        if self.location is not None:
            target = urlsplit(self.location)
            if (target.scheme or target.netloc) and not is_loopback_host(target.hostname):
                # The sandbox never points anyone away from this machine.
                raise ValueError("Fault location must be a path or a loopback URL")


class FaultQueue:
    """Per-endpoint FIFO of faults, safe to push from tests while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {name: deque() for name in ENDPOINTS}

    def push(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for ``endpoint`` ("trace" or "interpretation"), in order."""
        queue = self._queue(endpoint)
        with self._lock:
            for fault in faults:
                queue.extend([fault] * fault.repeat)

    def pop(self, endpoint: str) -> Fault | None:
        """Take the next fault for ``endpoint``, or None when nothing is queued."""
        queue = self._queue(endpoint)
        with self._lock:
            return queue.popleft() if queue else None

    def pending(self, endpoint: str | None = None) -> int:
        """How many faults are still queued (for one endpoint, or all)."""
        with self._lock:
            if endpoint is None:
                return sum(len(q) for q in self._queues.values())
            return len(self._queue(endpoint))

    def clear(self, endpoint: str | None = None) -> None:
        """Forget queued faults (for one endpoint, or all)."""
        with self._lock:
            for name, queue in self._queues.items():
                if endpoint is None or name == endpoint:
                    queue.clear()

    def _queue(self, endpoint: str) -> deque[Fault]:
        try:
            return self._queues[endpoint]
        except KeyError:
            raise ValueError(
                f"Unknown fault endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)}"
            ) from None
