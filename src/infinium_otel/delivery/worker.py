"""The delivery worker: one bounded queue, one pipeline, truthful flush and shutdown.

``export()`` must never wait on the network or on user code, so it only hands
finished runs (unconverted) to ``submit_all``, which never blocks. From there
every run takes the same way: the preparing thread (``preparation.py``) makes
it a payload and writes it to the spool, the send pool (``send_pool.py``,
``max_concurrent_sends`` threads, one by default) sends it through
``PayloadSender`` (``sender.py``) and tells listeners about accepted runs, and
what stays on disk is replayed by ``spool_handoff.py``. This module is the
owner's side: submitting, flushing, shutting down, the counters, forks.

The queue (``run_queue.py``) holds at most ``max_queue`` entries; when full the
oldest is dropped, counted and logged (rate-limited). With a spool, every
prepared payload is on disk before its first send, so what leaves memory this
way stays on disk.

``flush`` and ``shutdown`` tell the truth (``ledger.py``): a flush is True only
when every submission made before it started was accepted (or dropped by the
payload hook's choice) and no failure since the last flush went unreported.
Both wait only up to their deadline; the threads are daemons, so a hook that
never returns cannot hold up the application or the interpreter's exit.

After ``os.fork()`` the owner calls ``reset_after_fork()`` in the child, which
then starts with an empty queue, a new client session and its own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from infinium_otel._logging import RateLimitedLogger
from infinium_otel.client.agents import AgentClients
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.items import (
    Delivery,
    DeliveryStats,
    RunMeta,
    Spool,
    meta_from_payload,
)
from infinium_otel.delivery.ledger import deadline_after, remaining
from infinium_otel.delivery.pipeline import DeliveryPipeline, PipelineOptions
from infinium_otel.delivery.preparation import Prepare, RunSource
from infinium_otel.delivery.sender import DeliveryListener, PayloadSender
from infinium_otel.payload.run import Run

__all__ = [
    "Delivery",
    "DeliveryListener",
    "DeliveryStats",
    "DeliveryWorker",
    "Prepare",
    "RunMeta",
    "RunSource",
    "Spool",
    "meta_from_payload",
]

_log = logging.getLogger("infinium_otel.delivery")

_SPOOL_COUNTERS = {
    "spool_dropped_full": "dropped_full",
    "spool_corrupt": "corrupt",
    "spool_rejected": "rejected",
    "spool_claim_lost": "claim_lost",
}


class DeliveryWorker:
    """Prepares and sends runs on its own threads; ``submit_all`` never blocks.

    ``spool_retry_initial`` / ``spool_retry_max`` bound the backoff between
    retries of spooled payloads (doubling); ``spool_start_delay`` is how soon
    after start entries left by earlier processes are picked up.
    """

    def __init__(
        self,
        client: InfiniumClient | AgentClients,
        *,
        max_queue: int = 1_000,
        retry_window: float = 60.0,
        prepare: Prepare | None = None,
        source: RunSource | None = None,
        expiry_interval: float = 1.0,
        spool: Spool | None = None,
        spool_retry_initial: float = 5.0,
        spool_retry_max: float = 300.0,
        spool_start_delay: float = 1.0,
        max_concurrent_sends: int = 1,
    ) -> None:
        self._max_queue = max(1, max_queue)
        self._options = PipelineOptions(
            max_queue=self._max_queue,
            retry_window=retry_window,
            max_concurrent_sends=max(1, max_concurrent_sends),
            prepare=prepare,
            source=source,
            expiry_interval=expiry_interval,
            spool_retry_initial=spool_retry_initial,
            spool_retry_max=spool_retry_max,
            spool_start_delay=spool_start_delay,
        )
        self._spool = spool
        self._stats = DeliveryStats()
        self._warn = RateLimitedLogger(_log)
        self._sender = PayloadSender(client, spool=spool, stats=self._stats, warn=self._warn)
        self._room_listeners: list[Callable[[], None]] = []
        self._pipeline = self._new_pipeline()
        self._start_replays(start_threads=True)

    # -- what the owner reads -------------------------------------------------

    @property
    def stats(self) -> DeliveryStats:
        """Counters (the spool's own ones copied in)."""
        spool_stats = getattr(self._spool, "stats", None)
        if spool_stats is not None:
            for ours, theirs in _SPOOL_COUNTERS.items():
                setattr(self._stats, ours, int(getattr(spool_stats, theirs, 0)))
        return self._stats

    @property
    def pending(self) -> int:
        """Entries queued, being prepared or being sent."""
        with self._pipeline.state.lock:
            return len(self._pipeline.state.queue) + self._pipeline.in_progress()

    @property
    def spool_retry_due(self) -> float | None:
        """Monotonic time of the next spool retry, None when none is scheduled."""
        with self._pipeline.state.lock:
            return self._pipeline.handoff.due_at()

    def add_listener(self, listener: DeliveryListener) -> None:
        """Call ``listener(meta, response)`` for every accepted run, on the sender thread
        that sent it (with several sends in flight, from several threads at once)."""
        self._sender.listeners.append(listener)

    def add_room_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` each time an entry leaves ``pending`` (settled, or kept on
        disk for a later retry), on the delivery thread and with the delivery lock held:
        it must only signal (set an event), never wait or call back in."""
        self._room_listeners.append(listener)

    # -- what the owner hands in ----------------------------------------------

    def submit(self, work: Run | Delivery) -> bool:
        """Queue one run (or an encoded payload); False when refused (shutting down)."""
        return self.submit_all([work]) == 1

    def submit_all(self, works: Iterable[Run | Delivery]) -> int:
        """Queue runs (or encoded payloads); how many were accepted. Never blocks.

        A full queue drops its oldest entry (counted and logged); after
        shutdown has begun nothing is accepted (counted).
        """
        with self._pipeline.state.lock:
            admission = self._pipeline.admit(works)
        for work in admission.refused:
            self._pipeline.handoff.keep_unsent(work)
        for entry in admission.dropped:
            kept = self._pipeline.handoff.keep_unsent(entry.work)
            self._warn.log(
                logging.WARNING,
                "queue-full",
                "Infinium delivery queue is full (%d runs); dropped the oldest%s",
                self._max_queue,
                " from memory (it stays in the spool)" if kept else "",
            )
        return admission.accepted

    def watch(self) -> None:
        """Spans are buffered: ask the source for expired runs periodically until none are."""
        with self._pipeline.state.lock:
            if self._pipeline.preparer.watch():
                self._pipeline.ensure_running()

    # -- flush, shutdown, fork ------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for every submission made before this call; True when all were accepted.

        A run the payload hook chose to drop counts as done; any other run not
        accepted by the endpoint (refused, failed, dropped, or still pending at
        the deadline) makes it False, as does a failure since the last flush.
        An interrupt (Ctrl+C) while waiting leaves every run queued.
        """
        deadline = deadline_after(timeout, time.monotonic())
        pipeline = self._pipeline
        state = pipeline.state
        with state.lock:
            waiter = state.ledger.begin_flush()
            try:
                while state.ledger.waits(waiter):
                    if pipeline.runs_on(threading.current_thread()):
                        return False  # called from a hook or listener: it would wait on itself
                    if not state.closed:
                        pipeline.ensure_running()
                    left = remaining(deadline, time.monotonic())
                    if left is not None and left <= 0:
                        return False
                    state.settled.wait(left)
                return not waiter.failed
            finally:
                state.ledger.end_flush(waiter)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Deliver what is queued within ``timeout``, then stop; True when all was accepted.

        Returns by the deadline whatever the hook or the endpoint does. What is
        left is counted as abandoned; spooled payloads stay on disk for later.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        pipeline = self._pipeline
        state = pipeline.state
        with state.lock:
            if state.closed:
                return state.ledger.all_accepted()
            pipeline.stop(deadline)
        delivered = self.flush(max(0.0, deadline - time.monotonic()))
        with state.lock:
            unfinished = pipeline.in_progress()
            abandoned = pipeline.close()
            delivered = delivered and not abandoned and not unfinished
        for entry in abandoned:
            pipeline.handoff.keep_unsent(entry.work)
        state.cancel.set()  # ends the client's backoff sleeps at once
        pipeline.join(deadline)
        self._sender.clients.close()
        return delivered

    def reset_after_fork(self) -> None:
        """In a forked child: an empty worker with its own session, threads and locks."""
        self._warn = RateLimitedLogger(_log)  # its lock may have been held at the fork
        self._stats = DeliveryStats()
        listeners = self._sender.listeners
        self._sender = PayloadSender(
            self._sender.clients.clone(), spool=self._spool, stats=self._stats, warn=self._warn
        )
        self._sender.listeners.extend(listeners)
        self._pipeline = self._new_pipeline()
        self._start_replays(start_threads=False)  # the threads start on first use

    # -- helpers ----------------------------------------------------------------

    def _new_pipeline(self) -> DeliveryPipeline:
        pipeline = DeliveryPipeline(
            self._options, self._sender, stats=self._stats, submit=self.submit_all
        )
        pipeline.state.room_listeners = self._room_listeners  # shared: kept after a fork
        return pipeline

    def _start_replays(self, *, start_threads: bool) -> None:
        """Entries left by earlier processes: pick them up shortly after start."""
        if self._pipeline.handoff.entries_at_start() and start_threads:
            with self._pipeline.state.lock:
                self._pipeline.ensure_running()
