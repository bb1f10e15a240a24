"""The runs being polled, and the one lock that guards them.

``submit`` (any application thread), the poller thread, ``flush`` and
``shutdown`` all share this state. It lives in one object so that a forked
child gets a fresh one in a single assignment, and so that every rule about
it (the heap order, the overflow bound, the counts, the idle signal) sits in
one place. Methods named ``*_locked`` expect the caller to hold ``lock``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass

from infinium_otel.interpretation.outcome import InterpretationRequest, OutcomeStatus

__all__ = ["STAT_KEYS", "PendingRun", "PendingRuns"]

STAT_KEYS = (
    "submitted",
    "ready",
    "timed_out",
    "failed",
    "dropped_overflow",
    "abandoned",
    "requests",
    "pending",
)


@dataclass(eq=False)
class PendingRun:
    """One run being polled; mutated only under the lock or by the poller thread."""

    request: InterpretationRequest
    submitted_at: float
    deadline: float
    next_at: float
    poll: bool = True
    attempts: int = 0
    failures: int = 0
    last_message: str = "no answer yet"
    rate_limited: bool = False
    dropped: bool = False
    reported_at_exit: bool = False
    seq: int = 0


class PendingRuns:
    """Pending runs by submission order, a heap by next poll time, and the counts."""

    def __init__(self, *, max_pending: int, stopped: bool = False) -> None:
        self.max_pending = max_pending
        self.lock = threading.Lock()
        self.wakeup = threading.Condition(self.lock)
        """Notified when the earliest poll time may have moved or the poller must stop."""
        self.idle = threading.Condition(self.lock)
        """Notified when nothing is pending and no outcome is being delivered."""
        self.stop = threading.Event()
        self.heap: list[tuple[float, int, PendingRun]] = []
        self.pending: dict[int, PendingRun] = {}
        self.busy = 0  # outcomes being delivered right now
        self.thread: threading.Thread | None = None
        # Agent (None: the default one) -> why its credentials were refused.
        self.auth_failures: dict[str | None, str] = {}
        self.counts = dict.fromkeys(STAT_KEYS, 0)
        self.overflow_warned = False
        self.exit_deadline: float | None = None
        self.unreported_abandoned = 0
        self._seq = itertools.count()
        if stopped:
            self.stop.set()

    # ------------------------------------------------------------ adding runs

    def add_locked(self, entry: PendingRun) -> bool:
        """Add ``entry`` (its ``seq`` is set here); True the first time the bound drops a run.

        When ``max_pending`` runs are already pending the oldest are dropped,
        counted in ``dropped_overflow``, without an outcome.
        """
        entry.seq = next(self._seq)
        first_overflow = False
        while len(self.pending) >= self.max_pending:
            oldest = self.pending.pop(next(iter(self.pending)))
            oldest.dropped = True
            self.counts["dropped_overflow"] += 1
            if not self.overflow_warned:
                self.overflow_warned = first_overflow = True
        self.pending[entry.seq] = entry
        self.push_locked(entry)
        if len(self.heap) > 2 * self.max_pending + 64:
            self._compact_heap_locked()
        return first_overflow

    def withdraw_locked(self, entry: PendingRun) -> None:
        """Take back a just-added run that no thread will ever poll (not counted)."""
        self.pending.pop(entry.seq, None)
        entry.dropped = True

    def push_locked(self, entry: PendingRun) -> None:
        """Schedule ``entry`` at its ``next_at``."""
        heapq.heappush(self.heap, (entry.next_at, entry.seq, entry))

    def is_first_locked(self, entry: PendingRun) -> bool:
        """True when ``entry`` is the earliest scheduled run (the poller's wait changes)."""
        return bool(self.heap) and self.heap[0][2] is entry

    def _compact_heap_locked(self) -> None:
        self.heap = [item for item in self.heap if not item[2].dropped]
        heapq.heapify(self.heap)

    # ------------------------------------------------------- finishing runs

    def take_locked(self, entry: PendingRun, status: OutcomeStatus) -> bool:
        """Claim ``entry``'s outcome for delivery; False when it was dropped or we stop.

        A claimed outcome counts as ``busy`` until ``release`` is called.
        """
        if entry.dropped or self.stop.is_set():
            return False
        self.pending.pop(entry.seq, None)
        entry.dropped = True
        self.busy += 1
        self.counts[status] += 1
        return True

    def release(self) -> None:
        """One claimed outcome reached the sinks (or failed to); wake ``flush`` when idle."""
        with self.lock:
            self.busy -= 1
            if not self.pending and not self.busy:
                self.idle.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until nothing is pending or being delivered; False on stop or timeout."""
        end = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self.lock:
            while self.pending or self.busy:
                if self.stop.is_set():
                    return False
                if end is None:
                    self.idle.wait()
                else:
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return False
                    self.idle.wait(remaining)
            return True

    def abandon_all_locked(self) -> None:
        """Stop for good: every pending run is dropped, counted in ``abandoned``."""
        self.stop.set()
        self.counts["abandoned"] += len(self.pending)
        for entry in self.pending.values():
            entry.dropped = True
            if not entry.reported_at_exit:
                self.unreported_abandoned += 1
        self.pending.clear()
        self.heap.clear()
        self.wakeup.notify_all()
        self.idle.notify_all()

    def snapshot(self) -> dict[str, int]:
        """The counts, with ``pending`` as it is now."""
        with self.lock:
            result = dict(self.counts)
            result["pending"] = len(self.pending)
            return result
