"""The sends in flight: a pool of ``max_concurrent_sends`` threads, one send each.

Every send leaves from this pool, whatever its size: with one sender (the
default) payloads go one at a time in submission order; with more, network
waits overlap, payloads leave in submission order but may be accepted out of
it. A free sender takes the oldest prepared payload; with none ready, it makes
the spool's replay when one is due (one replay at a time), so live runs come
first and replays fill idle slots.

Retries of a live send: without a spool a payload lives only in memory, so
transient failures (429, 5xx, network) are retried until ``retry_window``
seconds have passed, with the client's backoff and ``Retry-After``. With a
spool the send makes the client's configured retries and then leaves the
payload on disk for the replays (``spool_handoff.py``). Non-retryable answers
end at once either way, and no send outlasts shutdown's deadline.
"""

from __future__ import annotations

import functools
import logging
import time

from infinium_otel.delivery.attempt import Outcome
from infinium_otel.delivery.items import Delivery
from infinium_otel.delivery.run_queue import QueuedEntry
from infinium_otel.delivery.sender import PayloadSender
from infinium_otel.delivery.spool_handoff import SpoolHandoff
from infinium_otel.delivery.state import DeliveryState
from infinium_otel.delivery.task_threads import Task, TaskThreads

__all__ = ["SENDING_THREAD", "UNTIL_THE_WINDOW", "SendPool"]

_log = logging.getLogger("infinium_otel.delivery")

SENDING_THREAD = "infinium-otel-send"

# Retries of a live send without a spool: as many as fit in the retry window.
UNTIL_THE_WINDOW = 1_000_000


class SendPool:
    """``size`` sender threads and the entries they are sending."""

    def __init__(
        self,
        state: DeliveryState,
        sender: PayloadSender,
        handoff: SpoolHandoff,
        *,
        size: int,
        retry_window: float,
    ) -> None:
        self._state = state
        self._sender = sender
        self._handoff = handoff
        self._retry_window = retry_window
        self._retries = None if sender.spool is not None else UNTIL_THE_WINDOW
        self.in_flight: set[QueuedEntry] = set()  # being sent (lock held)
        self.threads = TaskThreads(
            name=SENDING_THREAD, size=size, lock=state.lock, choose=self._next_task
        )

    def _next_task(self) -> Task | None:
        """Wait for a payload to send or a replay due (lock held); None once closed."""
        state = self._state
        while True:
            if state.closed:
                return None
            entry = state.queue.next_to_send()
            if entry is not None:
                self.in_flight.add(entry)
                return functools.partial(self._send, entry)
            now = time.monotonic()
            if self._handoff.take_turn(now):
                return self._handoff.replay
            state.to_send.wait(self._handoff.wait(now))

    def _send(self, entry: QueuedEntry) -> None:
        try:
            self._send_entry(entry)
        except Exception:  # not settled nor kept on disk: it was not accepted
            _log.exception("Infinium delivery: unexpected failure")
            with self._state.lock:
                if entry in self.in_flight:
                    self.in_flight.discard(entry)
                    self._sender.count("failed")
                    self._state.settle(entry.seq, ok=False)

    def _send_entry(self, entry: QueuedEntry) -> None:
        item = entry.work
        assert isinstance(item, Delivery)
        key = item.spool_key
        outcome, kept = self._sender.send(
            item,
            deadline=self._state.send_deadline(self._retry_window),
            max_retries=self._retries,
            cancel=self._state.cancel,
        )
        if kept:
            self._handoff.payload_kept()
        if outcome is not None:
            self._handoff.after_live(item, outcome)
        with self._state.lock:
            self.in_flight.discard(entry)
            failed_on_disk = kept and outcome is Outcome.FAILED
            if failed_on_disk and key is not None and self._handoff.await_replay(key, entry.seq):
                self._state.room_freed()  # out of the backlog, though not settled yet
                return  # on disk, retried by the spool schedule: not settled yet
            self._state.settle(entry.seq, ok=outcome is Outcome.DELIVERED)
