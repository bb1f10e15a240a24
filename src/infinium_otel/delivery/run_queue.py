"""The one bounded queue between ``export()`` and the network, as plain data.

It holds two stretches under one bound: runs waiting to be prepared, and
payloads ready to send. A full queue makes room by dropping its oldest entry,
a ready payload before a run (a payload is already on disk when there is a
spool, so dropping it from memory loses nothing). No lock and no thread here:
the delivery worker's lock guards it, and the caller counts and logs drops.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from infinium_otel.delivery.items import Delivery
from infinium_otel.payload.run import Run

__all__ = ["QueuedEntry", "RunQueue"]


@dataclasses.dataclass(eq=False)
class QueuedEntry:
    """One submission: its sequence number (what flushes count) and its run or payload."""

    seq: int
    work: Run | Delivery


class RunQueue:
    """Runs to prepare, then payloads to send; at most ``max_entries`` of both together."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self._to_prepare: deque[QueuedEntry] = deque()
        self._to_send: deque[QueuedEntry] = deque()

    def __len__(self) -> int:
        return len(self._to_prepare) + len(self._to_send)

    def add(self, entry: QueuedEntry) -> list[QueuedEntry]:
        """Queue a new submission to prepare; the oldest entries dropped to make room."""
        dropped = []
        while len(self) >= self.max_entries:
            dropped.append(self._to_send.popleft() if self._to_send else self._to_prepare.popleft())
        self._to_prepare.append(entry)
        return dropped

    def next_to_prepare(self) -> QueuedEntry | None:
        return self._to_prepare.popleft() if self._to_prepare else None

    def ready(self, entry: QueuedEntry) -> None:
        """A prepared payload waits to be sent. It was counted as in flight while being
        prepared, so coming back it displaces nothing: the bound holds at ``add``."""
        self._to_send.append(entry)

    def next_to_send(self) -> QueuedEntry | None:
        return self._to_send.popleft() if self._to_send else None

    def drain(self) -> list[QueuedEntry]:
        """Everything still queued, payloads first (oldest first), the queue left empty."""
        entries = [*self._to_send, *self._to_prepare]
        self._to_send.clear()
        self._to_prepare.clear()
        return entries
