"""The delivery worker: one bounded queue, its threads, truthful flush and shutdown.

``export()`` must never wait on the network or on user code, so it only hands
finished runs (unconverted) to ``submit_all``. Everything after that happens
on this worker's threads and nowhere else: preparing a run (conversion, the
payload hook, encoding: the ``prepare`` callable) and writing it to the spool
on the worker thread; sending it and telling listeners (interpretation) about
accepted runs there too, or on the sender threads (below). The
worker decides what to do next and when; ``PayloadSender`` (``sender.py``)
makes each send and carries out its outcome, and ``ReplaySchedule``
(``schedule.py``) times the spool's retries.

Sends in flight: with ``max_concurrent_sends`` 1 (the default) this thread
also sends, one payload at a time, in submission order. With more, that many
sender threads take prepared payloads and send them at once, so network waits
overlap while this thread goes on preparing; payloads then leave in submission
order but may be accepted out of it. Everything else (preparing, expiry, the
spool's replays) stays on the one worker thread.

The queue holds at most ``max_queue`` entries in two stretches: runs waiting to
be prepared, and payloads ready to send. The worker prepares everything queued
before it sends the next payload, so the queue mostly holds compact payloads
and spans are released early. When it is full the oldest entry is dropped,
counted and logged (rate-limited). With a spool, every prepared payload is on
disk before its first send, so what leaves memory this way stays on disk.

Retries: without a spool a payload lives only in memory, so transient failures
(429, 5xx, network) are retried until ``retry_window`` seconds have passed,
with the client's backoff and ``Retry-After``. With a spool the live send makes
the client's configured retries and then leaves the payload on disk, where
``ReplaySchedule`` (``schedule.py``) times further attempts. Non-retryable
answers end at once either way.

``flush`` and ``shutdown`` tell the truth: every submission gets a sequence
number, and a flush is True only when every submission made before it started
has settled as accepted (or dropped by the payload hook's choice), and no
failure since the last flush went unreported. A payload kept on disk after a
failed send is settled by its replay (or as not accepted when replays stop).
Both wait only up to their deadline; the thread is a daemon, so a hook that
never returns cannot hold up the application or the interpreter's exit.

Periodic expiry of buffered trees needs no callback into the exporter: the
worker is given a ``RunSource`` (the exporter's run buffer) and, while
``watch()`` says spans are buffered, asks it every ``expiry_interval`` seconds
for trees past their time-to-live, which it queues like any finished run.

After ``os.fork()`` the owner calls ``reset_after_fork()`` in the child, which
then starts with an empty queue, a new client session and its own thread.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from infinium_otel._logging import RateLimitedLogger
from infinium_otel.client.agents import AgentClients
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.attempt import Outcome
from infinium_otel.delivery.items import (
    Delivery,
    DeliveryStats,
    NotSent,
    RunMeta,
    Spool,
    meta_from_payload,
)
from infinium_otel.delivery.schedule import ReplaySchedule
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

# Retries of a live send without a spool: as many as fit in the retry window.
UNTIL_THE_WINDOW = 1_000_000
# Payloads of this process kept on disk after a failed send whose replay a flush waits for.
MAX_TRACKED_KEPT = 10_000

Prepare = Callable[[Run], "Delivery | NotSent"]


class RunSource(Protocol):
    """Where runs that finish by timing out come from (the exporter's run buffer)."""

    def take_expired(self, now: float) -> tuple[list[Run], bool]:
        """Runs past their time-to-live, and whether spans are still buffered."""
        ...


@dataclasses.dataclass(eq=False)
class _Entry:
    seq: int
    work: Run | Delivery


@dataclasses.dataclass(eq=False)
class _Flush:
    """One waiting flush: every submission numbered below ``target`` counts."""

    target: int
    failed: bool


class DeliveryWorker:
    """Prepares and sends runs on its own thread; ``submit_all`` never blocks.

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
        self._concurrency = max(1, max_concurrent_sends)
        self._retry_window = retry_window
        self._prepare = prepare
        self._source = source
        self._expiry_interval = max(0.01, expiry_interval)
        self._spool = spool
        self._schedule_options = (spool_retry_initial, spool_retry_max, spool_start_delay)
        self._stats = DeliveryStats()
        self._warn = RateLimitedLogger(_log)
        self._sender = PayloadSender(client, spool=spool, stats=self._stats, warn=self._warn)
        self._reset_state()
        self._schedule_start_replay()

    def _reset_state(self) -> None:
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # the worker thread and waiting flushes
        self._sendable = threading.Condition(lock)  # sender threads: a payload is ready
        self._incoming: deque[_Entry] = deque()  # runs (or payloads) not prepared yet
        self._ready: deque[_Entry] = deque()  # prepared payloads, oldest first
        self._busy: _Entry | None = None  # being prepared (or sent, by the worker thread)
        self._sending: set[_Entry] = set()  # being sent by sender threads
        self._senders: list[threading.Thread] = []
        self._next_seq = 0
        self._unsettled: set[int] = set()
        self._flushes: list[_Flush] = []
        self._unreported_failures = 0
        # spool key -> sequence number: kept on disk after a failed send, replay pending.
        self._kept: dict[str, int] = {}
        self._replaying = False
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._watching = False
        self._next_expiry = 0.0
        self._cancel = threading.Event()
        self._hard_deadline: float | None = None
        initial, cap, start = self._schedule_options
        self._schedule = ReplaySchedule(initial=initial, cap=cap, start_delay=start)

    # -- owner's side ------------------------------------------------------

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
        """Entries queued or being worked on."""
        with self._cond:
            in_flight = (self._busy is not None) + len(self._sending)
            return len(self._incoming) + len(self._ready) + in_flight

    @property
    def spool_retry_due(self) -> float | None:
        """Monotonic time of the next spool retry, None when none is scheduled."""
        with self._cond:
            if self._spool is None or self._schedule.blocked:
                return None
            return self._schedule.next_at

    def add_listener(self, listener: DeliveryListener) -> None:
        """Call ``listener(meta, response)`` for every accepted run, on the thread that sent it
        (with several sends in flight, listeners may be called from several threads at once)."""
        self._sender.listeners.append(listener)

    def submit(self, work: Run | Delivery) -> bool:
        """Queue one run (or an encoded payload); False when refused (shutting down)."""
        return self.submit_all([work]) == 1

    def submit_all(self, works: Iterable[Run | Delivery]) -> int:
        """Queue runs (or encoded payloads); how many were accepted. Never blocks.

        A full queue drops its oldest entry (counted and logged); after
        shutdown has begun nothing is accepted (counted).
        """
        accepted = 0
        dropped: list[_Entry] = []
        late: list[Run | Delivery] = []
        with self._cond:
            for work in works:
                if self._stopping:
                    self._stats.dropped_after_shutdown += 1
                    self._unreported_failures += 1
                    late.append(work)
                    continue
                while len(self._incoming) + len(self._ready) >= self._max_queue:
                    dropped.append(self._drop_oldest())
                entry = _Entry(self._next_seq, work)
                self._next_seq += 1
                self._unsettled.add(entry.seq)
                self._incoming.append(entry)
                self._stats.queued += 1
                accepted += 1
            if accepted:
                self._ensure_thread()
                self._cond.notify_all()
        for work in late:
            self._keep_unsent(work)
        for entry in dropped:
            kept = self._keep_unsent(entry.work)
            self._warn.log(
                logging.WARNING,
                "queue-full",
                "Infinium delivery queue is full (%d runs); dropped the oldest%s",
                self._max_queue,
                " from memory (it stays in the spool)" if kept else "",
            )
        return accepted

    def watch(self) -> None:
        """Spans are buffered: ask the source for expired runs periodically until none are."""
        with self._cond:
            if self._stopping or self._watching or self._source is None:
                return
            self._watching = True
            self._next_expiry = time.monotonic() + self._expiry_interval
            self._ensure_thread()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for every submission made before this call; True when all were accepted.

        A run the payload hook chose to drop counts as done; any other run not
        accepted by the endpoint (refused, failed, dropped, or still pending at
        the deadline) makes it False, as does a failure since the last flush.
        An interrupt (Ctrl+C) while waiting leaves every run queued.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self._cond:
            waiter = _Flush(self._next_seq, failed=self._unreported_failures > 0)
            self._unreported_failures = 0
            self._flushes.append(waiter)
            try:
                while self._unsettled_below(waiter.target):
                    if self._is_own_thread():
                        return False  # called from a hook or listener: it would wait on itself
                    if not self._closed:
                        self._ensure_thread()
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return not waiter.failed
            finally:
                self._flushes.remove(waiter)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Deliver what is queued within ``timeout``, then stop; True when all was accepted.

        Returns by the deadline whatever the hook or the endpoint does. What is
        left is counted as abandoned; spooled payloads stay on disk for later.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            if self._closed:
                return not self._unsettled and self._unreported_failures == 0
            self._stopping = True
            self._watching = False
            self._hard_deadline = deadline
            if not self._replaying:  # else once it ends: its payload may be one of ours
                self._settle_kept()  # no replays while stopping: they wait for the next process
            self._cond.notify_all()
        delivered = self.flush(max(0.0, deadline - time.monotonic()))
        with self._cond:
            abandoned = [*self._ready, *self._incoming]
            self._ready.clear()
            self._incoming.clear()
            for entry in abandoned:
                self._stats.abandoned_at_shutdown += 1
                self._settle(entry.seq, ok=False)
            if abandoned or self._busy is not None or self._sending:
                delivered = False
            self._closed = True
            self._cond.notify_all()
            self._sendable.notify_all()
        for entry in abandoned:
            self._keep_unsent(entry.work)
        self._cancel.set()  # ends the client's backoff sleeps at once
        for thread in [self._thread, *self._senders]:
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._sender.clients.close()
        return delivered

    def reset_after_fork(self) -> None:
        """In a forked child: an empty worker with its own session, thread and locks."""
        self._reset_state()
        self._warn = RateLimitedLogger(_log)  # its lock may have been held at the fork
        self._stats = DeliveryStats()
        listeners = self._sender.listeners
        self._sender = PayloadSender(
            self._sender.clients.clone(), spool=self._spool, stats=self._stats, warn=self._warn
        )
        self._sender.listeners.extend(listeners)
        self._schedule_start_replay(start_thread=False)  # the thread starts on first use

    # -- bookkeeping (callers hold the lock) -------------------------------

    def _unsettled_below(self, target: int) -> bool:
        return any(seq < target for seq in self._unsettled)

    def _settle(self, seq: int, *, ok: bool) -> None:
        """Record a submission's end; a failure goes to the flushes waiting for it."""
        self._unsettled.discard(seq)
        if ok:
            return
        waiting = [flush for flush in self._flushes if seq < flush.target]
        for flush in waiting:
            flush.failed = True
        if not waiting:
            self._unreported_failures += 1

    def _settle_kept(self) -> None:
        """Payloads on disk will not be retried by this process: they count as not accepted."""
        for seq in self._kept.values():
            self._settle(seq, ok=False)
        self._kept.clear()

    def _drop_oldest(self) -> _Entry:
        entry = self._ready.popleft() if self._ready else self._incoming.popleft()
        self._stats.dropped_queue_full += 1
        self._settle(entry.seq, ok=False)
        return entry

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="infinium-otel-delivery", daemon=True
            )
            self._thread.start()
        if self._concurrency > 1 and (
            len(self._senders) < self._concurrency
            or not all(sender.is_alive() for sender in self._senders)
        ):
            self._senders = [sender for sender in self._senders if sender.is_alive()]
            while len(self._senders) < self._concurrency:
                sender = threading.Thread(
                    target=self._send_loop, name="infinium-otel-send", daemon=True
                )
                sender.start()
                self._senders.append(sender)

    def _is_own_thread(self) -> bool:
        current = threading.current_thread()
        return current is self._thread or current in self._senders

    # -- the thread --------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                task = self._next_task()
            if task is None:
                return
            try:
                task()
            except Exception:  # never let the thread die
                _log.exception("Infinium delivery: unexpected failure")

    def _next_task(self) -> Callable[[], None] | None:
        """Wait for the next job (lock held): expiry, prepare, send, replay; None to stop."""
        while True:
            if self._closed:
                return None
            now = time.monotonic()
            if self._watching and now >= self._next_expiry:
                self._next_expiry = now + self._expiry_interval
                return self._expire
            if self._incoming:
                self._busy = self._incoming.popleft()
                return functools.partial(self._prepare_entry, self._busy)
            if self._ready and self._concurrency == 1:
                self._busy = self._ready.popleft()
                return functools.partial(self._send_entry, self._busy)
            if self._stopping:
                return None
            if self._spool is not None and self._schedule.due(now):
                return self._replay
            waits = [self._next_expiry - now] if self._watching else []
            replay_wait = self._schedule.wait(now) if self._spool is not None else None
            if replay_wait is not None:
                waits.append(replay_wait)
            self._cond.wait(max(0.0, min(waits)) if waits else None)

    def _send_loop(self) -> None:
        """A sender thread: send prepared payloads as they come, until the worker closes."""
        while True:
            with self._cond:
                while not self._ready and not self._closed:
                    self._sendable.wait()
                if self._closed:
                    return
                entry = self._ready.popleft()
                self._sending.add(entry)
            try:
                self._send_entry(entry)
            except Exception:  # never let the thread die
                _log.exception("Infinium delivery: unexpected failure")
                with self._cond:
                    unfinished = entry in self._sending
                if unfinished:  # not settled nor kept on disk: it was not accepted
                    self._finish(entry, ok=False)

    def _expire(self) -> None:
        assert self._source is not None
        try:
            runs, buffered = self._source.take_expired(time.monotonic())
        except Exception:
            _log.exception("Infinium exporter: periodic expiry failed")
            runs, buffered = [], True
        if runs:
            self.submit_all(runs)
        with self._cond:
            self._watching = self._watching and buffered and not self._stopping

    def _prepare_entry(self, entry: _Entry) -> None:
        """Turn a run into a payload (on this thread only), spool it, queue it to send."""
        work = entry.work
        if isinstance(work, Delivery):
            prepared: Delivery | NotSent = work
        elif self._prepare is not None:
            prepared = self._prepare(work)
        else:
            _log.error("Infinium delivery: a run was submitted to a worker that cannot convert")
            prepared = NotSent.CONVERSION_FAILED
        if isinstance(prepared, NotSent):
            self._finish(entry, ok=not prepared.is_failure)
            return
        if self._spool is not None and prepared.spool_key is None:
            prepared.spool_key = self._sender.write(prepared.body, prepared.meta.agent_id)
        entry.work = prepared
        with self._cond:
            self._busy = None
            abandoned = self._closed  # shutdown gave up on it meanwhile
            if abandoned:
                self._stats.abandoned_at_shutdown += 1
                self._settle(entry.seq, ok=False)
            else:  # it was counted as in flight: coming back, it displaces nothing
                self._ready.append(entry)
                self._sendable.notify()
            if self._flushes:
                self._cond.notify_all()
        if abandoned:
            self._keep_unsent(prepared)

    def _send_entry(self, entry: _Entry) -> None:
        item = entry.work
        assert isinstance(item, Delivery)
        key = item.spool_key
        outcome, kept = self._send(item, replay=False)
        if kept and key is not None and outcome is Outcome.FAILED:
            with self._cond:  # on disk, retried by the spool schedule: not settled yet
                if not self._stopping and len(self._kept) < MAX_TRACKED_KEPT:
                    self._kept[key] = entry.seq
                    self._let_go(entry)
                    self._cond.notify_all()
                    return
        self._finish(entry, ok=outcome is Outcome.DELIVERED)

    def _finish(self, entry: _Entry, *, ok: bool) -> None:
        with self._cond:
            self._let_go(entry)
            self._settle(entry.seq, ok=ok)
            if self._flushes:  # only a waiting flush cares; this thread is awake
                self._cond.notify_all()

    def _let_go(self, entry: _Entry) -> None:
        """The entry is no longer worked on (lock held)."""
        if self._busy is entry:
            self._busy = None
        self._sending.discard(entry)

    def _send(self, item: Delivery, *, replay: bool) -> tuple[Outcome | None, bool]:
        """One send within the retry window (and shutdown's deadline); see the module doc."""
        deadline = time.monotonic() + self._retry_window
        if self._hard_deadline is not None:
            deadline = min(deadline, self._hard_deadline)
        if replay:
            retries: int | None = 0  # one attempt per entry and interval
        elif self._spool is not None:
            retries = None  # the client's setting; then the spool takes over
        else:
            retries = UNTIL_THE_WINDOW
        outcome, kept = self._sender.send(
            item, deadline=deadline, max_retries=retries, cancel=self._cancel
        )
        if kept:
            self._payload_kept()
        if not replay and outcome is not None:
            with self._cond:
                self._after_outcome(self._schedule.after_live, _for_schedule(item, outcome))
        return outcome, kept

    def _after_outcome(self, update: Callable[[Outcome, float], None], outcome: Outcome) -> None:
        """Apply an outcome to the replay schedule (lock held); say so when replays stop."""
        if self._spool is None:
            return
        blocked = self._schedule.blocked
        update(outcome, time.monotonic())
        if self._schedule.blocked and not blocked:
            self._settle_kept()
            _log.error(
                "Infinium: the credentials were refused (401/403); spooled runs are kept on "
                "disk and no longer retried by this process. Fix INFINIUM_AGENT_ID / "
                "INFINIUM_AGENT_SECRET, then run `infinium-otel spool replay`."
            )
        self._cond.notify_all()

    # -- the spool ---------------------------------------------------------

    def _keep_unsent(self, work: Run | Delivery) -> bool:
        """A payload leaving memory unsent stays on disk when there is a spool; True if so."""
        kept = self._sender.keep_unsent(work)
        if kept:
            self._payload_kept()
        return kept

    def _payload_kept(self) -> None:
        with self._cond:
            self._schedule.payload_kept(time.monotonic())
            self._cond.notify_all()

    def _schedule_start_replay(self, *, start_thread: bool = True) -> None:
        """Entries left by earlier processes: pick them up shortly after start."""
        if not self._sender.entries_waiting():
            return
        with self._cond:
            self._schedule.entries_at_start(time.monotonic())
            if start_thread:
                self._ensure_thread()
            self._cond.notify_all()

    def _replay(self) -> None:
        """Retry the oldest spooled payload nobody is sending; reschedule by the outcome."""
        with self._cond:
            self._replaying = True
        try:
            self._replay_one()
        finally:
            with self._cond:
                self._replaying = False
                if self._stopping:
                    self._settle_kept()
                self._cond.notify_all()

    def _replay_one(self) -> None:
        item = self._sender.claim_next()
        if item is None:
            others = self._sender.entries_waiting()
            with self._cond:
                self._schedule.after_empty_pass(others, time.monotonic())
            return
        key = item.spool_key
        outcome, kept = self._send(item, replay=True)
        with self._cond:
            seq = None if kept or key is None else self._kept.pop(key, None)
            if seq is not None:  # a payload of ours a flush may be waiting for
                self._settle(seq, ok=outcome is Outcome.DELIVERED)
                self._cond.notify_all()
            if outcome is None:
                self._schedule.claim_lost(time.monotonic())
            else:
                self._after_outcome(self._schedule.after_replay, _for_schedule(item, outcome))


def _for_schedule(item: Delivery, outcome: Outcome) -> Outcome:
    """A routed agent's refused credentials stop only its own replays (the sender skips
    them), not the whole spool's: for the schedule that is a failure like any other."""
    if outcome is Outcome.AUTH_REFUSED and item.meta.agent_id is not None:
        return Outcome.FAILED
    return outcome
