"""The preparing thread: runs become payloads here, and nowhere else.

``export()`` must never wait on conversion or on user code, so runs reach
delivery unconverted. This one thread (named ``infinium-otel-delivery``)
prepares them in submission order (conversion, the payload hook, encoding: the
``prepare`` callable), writes each payload to the spool before its first send,
and queues it for the send pool. It also watches the exporter's run buffer:
while ``watch()`` says spans are buffered, it asks the ``RunSource`` every
``expiry_interval`` seconds for trees past their time-to-live, and submits
them like any finished run.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from infinium_otel.delivery.items import Delivery, DeliveryStats, NotSent
from infinium_otel.delivery.run_queue import QueuedEntry
from infinium_otel.delivery.sender import PayloadSender
from infinium_otel.delivery.spool_handoff import SpoolHandoff
from infinium_otel.delivery.state import DeliveryState
from infinium_otel.delivery.task_threads import Task, TaskThreads
from infinium_otel.payload.run import Run

__all__ = ["PREPARING_THREAD", "Prepare", "Preparer", "RunSource"]

_log = logging.getLogger("infinium_otel.delivery")

PREPARING_THREAD = "infinium-otel-delivery"

Prepare = Callable[[Run], "Delivery | NotSent"]


class RunSource(Protocol):
    """Where runs that finish by timing out come from (the exporter's run buffer)."""

    def take_expired(self, now: float) -> tuple[list[Run], bool]:
        """Runs past their time-to-live, and whether spans are still buffered."""
        ...


class Preparer:
    """Prepares queued runs one at a time on its thread, and expires buffered ones."""

    def __init__(
        self,
        state: DeliveryState,
        sender: PayloadSender,
        handoff: SpoolHandoff,
        *,
        stats: DeliveryStats,
        prepare: Prepare | None,
        source: RunSource | None,
        expiry_interval: float,
        submit: Callable[[Iterable[Run]], int],
    ) -> None:
        self._state = state
        self._sender = sender
        self._handoff = handoff
        self._stats = stats
        self._make_payload = prepare
        self._source = source
        self._expiry_interval = max(0.01, expiry_interval)
        self._submit = submit
        self.preparing: QueuedEntry | None = None  # the entry on this thread (lock held)
        self.watching = False
        self._next_expiry = 0.0
        self.threads = TaskThreads(
            name=PREPARING_THREAD, size=1, lock=state.lock, choose=self._next_task
        )

    def watch(self) -> bool:
        """Begin asking the source for expired runs (lock held); False when nothing changes."""
        if self._state.stopping or self.watching or self._source is None:
            return False
        self.watching = True
        self._next_expiry = time.monotonic() + self._expiry_interval
        self._state.to_prepare.notify_all()
        return True

    def _next_task(self) -> Task | None:
        """Wait for the next job (lock held): expiry, then a run to prepare; None once closed."""
        state = self._state
        while True:
            if state.closed:
                return None
            now = time.monotonic()
            if self.watching and now >= self._next_expiry:
                self._next_expiry = now + self._expiry_interval
                return self._expire
            entry = state.queue.next_to_prepare()
            if entry is not None:
                self.preparing = entry
                return functools.partial(self._prepare_one, entry)
            state.to_prepare.wait(max(0.0, self._next_expiry - now) if self.watching else None)

    def _expire(self) -> None:
        assert self._source is not None
        try:
            runs, buffered = self._source.take_expired(time.monotonic())
        except Exception:
            _log.exception("Infinium exporter: periodic expiry failed")
            runs, buffered = [], True
        if runs:
            self._submit(runs)
        with self._state.lock:
            self.watching = self.watching and buffered and not self._state.stopping

    def _prepare_one(self, entry: QueuedEntry) -> None:
        try:
            self._prepare_entry(entry)
        except Exception:  # a defect in preparing: the run is lost, counted, and settled
            _log.exception("Infinium delivery: preparing a run failed")
            with self._state.lock:
                if self.preparing is entry:
                    self.preparing = None
                    self._sender.count("failed")
                    self._state.settle(entry.seq, ok=False)

    def _prepare_entry(self, entry: QueuedEntry) -> None:
        """Turn a run into a payload, spool it, queue it to send (or settle it as not sent)."""
        prepared = self._payload_for(entry.work)
        state = self._state
        if isinstance(prepared, NotSent):
            with state.lock:
                self.preparing = None
                state.settle(entry.seq, ok=not prepared.is_failure)
            return
        if self._sender.spool is not None and prepared.spool_key is None:
            prepared.spool_key = self._sender.write(prepared.body, prepared.meta.agent_id)
        entry.work = prepared
        with state.lock:
            self.preparing = None
            abandoned = state.closed  # shutdown gave up on it meanwhile
            if abandoned:
                self._stats.abandoned_at_shutdown += 1
                state.settle(entry.seq, ok=False)
            else:
                state.queue.ready(entry)
                state.to_send.notify()
        if abandoned:
            self._handoff.keep_unsent(prepared)

    def _payload_for(self, work: Run | Delivery) -> Delivery | NotSent:
        if isinstance(work, Delivery):
            return work
        if self._make_payload is None:
            _log.error("Infinium delivery: a run was submitted to a worker that cannot convert")
            return NotSent.CONVERSION_FAILED
        return self._make_payload(work)
