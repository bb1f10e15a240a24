"""One run's way through delivery, assembled, and its lifecycle under the one lock.

``DeliveryWorker`` (the owner's side) holds one ``DeliveryPipeline``: the
shared state under its one lock, the spool hand-off, the preparing thread and
the send pool, all wired to one ``PayloadSender``. The pipeline admits
submissions, stops taking them at shutdown and closes; the worker does what
needs no lock (logging, the spool, waiting). A forked child builds a new
pipeline, so no lock, condition or thread of the parent's survives there.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable

from infinium_otel.delivery.items import Delivery, DeliveryStats
from infinium_otel.delivery.preparation import Prepare, Preparer, RunSource
from infinium_otel.delivery.run_queue import QueuedEntry
from infinium_otel.delivery.schedule import ReplaySchedule
from infinium_otel.delivery.send_pool import SendPool
from infinium_otel.delivery.sender import PayloadSender
from infinium_otel.delivery.spool_handoff import SpoolHandoff
from infinium_otel.delivery.state import DeliveryState
from infinium_otel.payload.run import Run

__all__ = ["Admission", "DeliveryPipeline", "PipelineOptions"]


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """The worker's settings a pipeline is built from (kept for the rebuild after a fork)."""

    max_queue: int
    retry_window: float
    max_concurrent_sends: int
    prepare: Prepare | None
    source: RunSource | None
    expiry_interval: float
    spool_retry_initial: float
    spool_retry_max: float
    spool_start_delay: float


@dataclasses.dataclass
class Admission:
    """What ``admit`` did: how many it queued, the oldest it dropped to make room, and the
    submissions it refused (shutdown had begun). The caller keeps those on disk, and logs."""

    accepted: int = 0
    dropped: list[QueuedEntry] = dataclasses.field(default_factory=list)
    refused: list[Run | Delivery] = dataclasses.field(default_factory=list)


class DeliveryPipeline:
    """The parts of one delivery pipeline; ``state.lock`` guards them all."""

    def __init__(
        self,
        options: PipelineOptions,
        sender: PayloadSender,
        *,
        stats: DeliveryStats,
        submit: Callable[[Iterable[Run]], int],
    ) -> None:
        schedule = ReplaySchedule(
            initial=options.spool_retry_initial,
            cap=options.spool_retry_max,
            start_delay=options.spool_start_delay,
        )
        self.state = DeliveryState(max_queue=options.max_queue, schedule=schedule)
        self.handoff = SpoolHandoff(self.state, sender, retry_window=options.retry_window)
        self.preparer = Preparer(
            self.state,
            sender,
            self.handoff,
            stats=stats,
            prepare=options.prepare,
            source=options.source,
            expiry_interval=options.expiry_interval,
            submit=submit,
        )
        self.pool = SendPool(
            self.state,
            sender,
            self.handoff,
            size=options.max_concurrent_sends,
            retry_window=options.retry_window,
        )
        self._stats = stats

    def admit(self, works: Iterable[Run | Delivery]) -> Admission:
        """Number and queue submissions (lock held); refused once stopping. All counted."""
        state, stats = self.state, self._stats
        admission = Admission()
        for work in works:
            if state.stopping:
                stats.dropped_after_shutdown += 1
                state.ledger.refused()
                admission.refused.append(work)
                continue
            for oldest in state.queue.add(QueuedEntry(state.ledger.open(), work)):
                stats.dropped_queue_full += 1
                state.settle(oldest.seq, ok=False)
                admission.dropped.append(oldest)
            stats.queued += 1
            admission.accepted += 1
        if admission.accepted:
            self.ensure_running()
            state.to_prepare.notify_all()
        return admission

    def stop(self, deadline: float) -> None:
        """Shutdown begins (lock held): nothing new is taken, no send outlasts ``deadline``."""
        state = self.state
        state.stopping = True
        self.preparer.watching = False
        state.hard_deadline = deadline
        if not state.replaying:  # else once it ends: its payload may be one of ours
            state.give_up_kept()  # no replays while stopping: they wait for the next process
        state.wake_everyone()

    def close(self) -> list[QueuedEntry]:
        """Shutdown ends (lock held): what is still queued is abandoned (returned, counted and
        settled as not accepted), and the threads stop once their current task ends."""
        state = self.state
        abandoned = state.queue.drain()
        for entry in abandoned:
            self._stats.abandoned_at_shutdown += 1
            state.settle(entry.seq, ok=False)
        state.closed = True
        state.wake_everyone()
        return abandoned

    def ensure_running(self) -> None:
        """The preparing thread and the send pool are running (lock held)."""
        self.preparer.threads.ensure_running()
        self.pool.threads.ensure_running()

    def runs_on(self, thread: threading.Thread) -> bool:
        """True on one of the pipeline's threads (lock held): a hook or a listener."""
        return self.preparer.threads.owns(thread) or self.pool.threads.owns(thread)

    def in_progress(self) -> int:
        """Entries out of the queue and not settled: being prepared or sent (lock held)."""
        return (self.preparer.preparing is not None) + len(self.pool.in_flight)

    def join(self, deadline: float) -> None:
        """Wait for the threads to end, up to ``deadline`` (monotonic) at most."""
        self.preparer.threads.join(deadline)
        self.pool.threads.join(deadline)
