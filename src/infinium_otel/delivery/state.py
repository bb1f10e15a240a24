"""What the delivery worker's one lock guards, and who waits on it for what.

One lock keeps the queue, the ledger, the replay schedule and the lifecycle
flags consistent with each other (a flush's target and the queue must agree).
Three conditions share it, so a change wakes only those it concerns: the
preparing thread (a run to prepare, expiry to watch), the send pool (a payload
ready, a replay due) and the waiting flushes (the last submission one of them
waits for settled, not every one). A feeder that waits for room (the gateway) is
told when an entry leaves the backlog, instead of polling it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from infinium_otel.delivery.ledger import SettlementLedger
from infinium_otel.delivery.run_queue import RunQueue
from infinium_otel.delivery.schedule import ReplaySchedule

__all__ = ["DeliveryState"]

_log = logging.getLogger("infinium_otel.delivery")


class DeliveryState:
    """The shared delivery state; every field is read and written with ``lock`` held."""

    def __init__(self, *, max_queue: int, schedule: ReplaySchedule) -> None:
        self.lock = threading.RLock()
        self.to_prepare = threading.Condition(self.lock)  # the preparing thread waits here
        self.to_send = threading.Condition(self.lock)  # the send pool waits here
        self.settled = threading.Condition(self.lock)  # flushes wait here
        self.queue = RunQueue(max_queue)
        self.ledger = SettlementLedger()
        self.schedule = schedule
        self.replaying = False  # one spooled payload is being retried
        self.stopping = False  # shutdown began: nothing new is accepted, no more replays
        self.closed = False  # shutdown ended: the threads stop
        self.hard_deadline: float | None = None  # shutdown's: no send outlasts it
        self.cancel = threading.Event()  # set at close: ends the client's backoff sleeps
        # Called (lock held) when an entry leaves the backlog: they only signal, never wait.
        self.room_listeners: list[Callable[[], None]] = []

    def settle(self, seq: int, *, ok: bool) -> None:
        """A submission ended; a flush it leaves nothing to wait for is woken."""
        self.ledger.settle(seq, ok=ok)
        self.flushes_may_end()
        self.room_freed()

    def room_freed(self) -> None:
        """An entry left the queue and is no longer prepared or sent: tell the listeners."""
        for listener in self.room_listeners:
            try:
                listener()
            except Exception:  # a listener's defect must not stop the delivery thread
                _log.exception("Infinium delivery: a room listener failed")

    def flushes_may_end(self) -> None:
        """Wake the waiting flushes when one of them has nothing left to wait for."""
        if self.ledger.flush_may_end():
            self.settled.notify_all()

    def give_up_kept(self) -> None:
        """Payloads kept on disk will not be replayed by this process: settle them unaccepted."""
        if self.ledger.give_up_kept():
            self.flushes_may_end()

    def schedule_changed(self) -> None:
        """The replay schedule moved: the send pool recomputes when the next replay is due."""
        self.to_send.notify_all()

    def wake_everyone(self) -> None:
        """Stopping or closing: every waiter looks at the flags again."""
        self.to_prepare.notify_all()
        self.to_send.notify_all()
        self.settled.notify_all()

    def send_deadline(self, retry_window: float) -> float:
        """When a send starting now must end: its retry window, cut by shutdown's deadline."""
        deadline = time.monotonic() + retry_window
        if self.hard_deadline is not None:
            deadline = min(deadline, self.hard_deadline)
        return deadline
