"""The background sender: a bounded queue of encoded payloads and one thread.

``export()`` must never wait on the network, so every HTTP call happens here.
The thread starts on first use, sleeps when idle, retries through the client
(one overall deadline per payload), shrinks a payload the server calls too
large, and reports each accepted run to ``on_delivered``. After ``os.fork()``
the child gets a fresh, empty worker with its own session and thread.

With a spool, each payload is on disk before its first send and leaves the
disk only once accepted. What could not be delivered (the server was down, the
process was stopping) stays there and this thread retries it with backoff
(first shortly after start, for entries left by earlier processes), one
attempt per entry and interval, live payloads first.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from infinium_otel._logging import RateLimitedLogger
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.items import Delivery, DeliveryStats, RunMeta, Spool, meta_from_payload
from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    PayloadTooLargeError,
    ValidationError,
)
from infinium_otel.payload.encode import encode_payload

__all__ = [
    "Delivery",
    "DeliveryStats",
    "DeliveryWorker",
    "RunMeta",
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

# What one attempt came to.
DELIVERED = "delivered"
KEPT = "kept"  # failed, still on disk for a later retry
AUTH = "auth"  # credentials refused: on disk, but replays stop
GONE = "gone"  # dropped (not spooled, refused for good, or taken by another sender)


class DeliveryWorker:
    """Sends payloads on its own thread; ``submit`` never blocks on the network.

    ``spool_retry_initial`` / ``spool_retry_max`` bound the backoff between
    retries of spooled payloads (doubling); ``spool_start_delay`` is how soon
    after start entries left by earlier processes are picked up.
    """

    def __init__(
        self,
        client: InfiniumClient,
        *,
        max_queue: int = 1_000,
        retry_window: float = 60.0,
        on_delivered: Callable[[Delivery, ApiResponse], None] | None = None,
        on_tick: Callable[[], bool] | None = None,
        tick_interval: float = 1.0,
        spool: Spool | None = None,
        spool_retry_initial: float = 5.0,
        spool_retry_max: float = 300.0,
        spool_start_delay: float = 1.0,
    ) -> None:
        self._client = client
        self._max_queue = max_queue
        self._retry_window = retry_window
        self._on_delivered = on_delivered
        self._on_tick = on_tick
        self._tick_interval = tick_interval
        self._spool = spool
        self._spool_retry_initial = max(0.001, spool_retry_initial)
        self._spool_retry_max = max(self._spool_retry_initial, spool_retry_max)
        self._spool_start_delay = max(0.0, spool_start_delay)
        self._stats = DeliveryStats()
        self._warn = RateLimitedLogger(_log)
        self._reset_state()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))
        self._schedule_start_replay()

    def _reset_state(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Delivery] = deque()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ticking = False
        self._tick_now = False
        self._cancel = threading.Event()
        self._hard_deadline: float | None = None
        # Spool retries: when the next one is due (None: nothing to retry), the
        # current backoff, and whether refused credentials stopped them.
        self._spool_next: float | None = None
        self._spool_delay = self._spool_retry_initial
        self._spool_blocked = False
        self._swept = False

    @property
    def stats(self) -> DeliveryStats:
        """Counters (the spool's own ones copied in)."""
        spool_stats = getattr(self._spool, "stats", None)
        if spool_stats is not None:
            for ours, theirs in _SPOOL_COUNTERS.items():
                setattr(self._stats, ours, int(getattr(spool_stats, theirs, 0)))
        return self._stats

    # -- producer side -----------------------------------------------------

    def submit(self, delivery: Delivery) -> bool:
        """Queue a payload; the oldest is dropped (and counted) when the queue is full.

        With a spool the payload is on disk first; a payload dropped from the
        queue (or submitted during shutdown) stays there for a later retry.
        """
        if self._spool is not None and delivery.spool_key is None:
            delivery.spool_key = self._spool_write(delivery.body)  # disk, outside the lock
        dropped: Delivery | None = None
        with self._cond:
            if self._stopping:
                self._stats.dropped_after_shutdown += 1
                late: Delivery | None = delivery
            else:
                late = None
                if len(self._queue) >= self._max_queue:
                    dropped = self._queue.popleft()
                    self._stats.dropped_queue_full += 1
                self._queue.append(delivery)
                self._stats.queued += 1
                self._ensure_thread()
                self._cond.notify_all()
        if late is not None:
            self._keep_for_later(late)
            return False
        if dropped is not None:
            kept = self._keep_for_later(dropped)
            self._warn.log(
                logging.WARNING,
                "queue-full",
                "Infinium delivery queue is full (%d payloads); dropped the oldest run%s",
                self._max_queue,
                " from memory (it stays in the spool)" if kept else "",
            )
        return True

    def request_ticks(self) -> None:
        """Ask for periodic ``on_tick`` calls until it returns False (buffered spans age out)."""
        with self._cond:
            if self._stopping or self._ticking:
                return
            self._ticking = True
            self._ensure_thread()
            self._cond.notify_all()

    def wake(self) -> None:
        """Call ``on_tick`` as soon as possible (work was just handed over), then keep ticking."""
        with self._cond:
            if self._stopping:
                return
            self._ticking = True
            self._tick_now = True
            self._ensure_thread()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued payload has been attempted; True when nothing is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Deliver what is queued within ``timeout``, then stop; True when all went out.

        Spooled payloads not delivered by then stay on disk for the next process.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._stopping = True
            self._hard_deadline = deadline
            self._cond.notify_all()
        delivered_all = self.flush(max(0.0, deadline - time.monotonic()))
        with self._cond:
            abandoned = list(self._queue)
            self._queue.clear()
            self._stats.abandoned_at_shutdown += len(abandoned)
            if self._in_flight:
                delivered_all = False
            self._cond.notify_all()
        for item in abandoned:
            delivered_all = False
            self._keep_for_later(item)
        self._cancel.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        self._client.close()
        return delivered_all

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    @property
    def spool_retry_due(self) -> float | None:
        """Monotonic time of the next spool retry, None when none is scheduled."""
        with self._cond:
            return None if self._spool_blocked else self._spool_next

    # -- the thread --------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="infinium-otel-delivery", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        next_tick = time.monotonic() + self._tick_interval
        while True:
            item: Delivery | None = None
            replay = False
            with self._cond:
                while not self._queue:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._ticking and (self._tick_now or now >= next_tick):
                        break
                    if self._spool_due(now):
                        replay = True
                        self._in_flight += 1
                        break
                    waits = [next_tick - now] if self._ticking else []
                    if self._spool_next is not None and not self._spool_blocked:
                        waits.append(self._spool_next - now)
                    self._cond.wait(max(0.0, min(waits)) if waits else None)
                if self._queue and not replay:
                    item = self._queue.popleft()
                    self._in_flight += 1
            if self._ticking and (self._tick_now or time.monotonic() >= next_tick):
                self._tick_now = False
                next_tick = time.monotonic() + self._tick_interval
                self._tick()
            if item is None and not replay:
                continue
            try:
                if replay:
                    self._replay_one()
                elif item is not None:
                    self._after_live_attempt(self._deliver(item))
            except Exception:  # never let the thread die
                _log.exception("Infinium delivery: unexpected failure")
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _tick(self) -> None:
        try:
            keep = self._on_tick() if self._on_tick is not None else False
        except Exception:
            _log.exception("Infinium exporter: periodic expiry failed")
            keep = True
        with self._cond:
            self._ticking = keep and not self._stopping

    def _deliver(self, item: Delivery, *, max_retries: int | None = None) -> str:
        """One send (with the client's retries); what it came to (DELIVERED, KEPT, ...)."""
        spooled = item.spool_key is not None and self._spool is not None
        if spooled and not self._spool_call("renew", item.spool_key or ""):
            return GONE  # another sender took it over: it is theirs to send
        deadline = time.monotonic() + self._retry_window
        if self._hard_deadline is not None:
            deadline = min(deadline, self._hard_deadline)
        try:
            response = self._client.send_trace_bytes(
                item.body, deadline=deadline, max_retries=max_retries, cancel=self._cancel
            )
        except PayloadTooLargeError:
            if item.shrunk or not self._shrink(item):
                return self._refused(
                    item, "too-large", "the server refused the payload as too large"
                )
            self._stats.shrunk_after_413 += 1
            return self._deliver(item, max_retries=max_retries)
        except AuthenticationError as error:
            self._stats.failed_auth += 1
            reason = f"credentials refused ({error.status_code})"
            return AUTH if self._fail(item, "auth", reason) else GONE
        except ValidationError as error:
            return self._refused(item, "invalid", str(error))
        except InfiniumError as error:
            return KEPT if self._fail(item, type(error).__name__, str(error)) else GONE
        except Exception as error:  # never let the thread die
            return KEPT if self._fail(item, "unexpected", f"{type(error).__name__}") else GONE
        self._stats.delivered += 1
        if item.replayed:
            self._stats.replayed += 1
        if item.spool_key is not None and self._spool is not None:
            self._spool_call("remove", item.spool_key)
        if self._on_delivered is not None:
            try:
                self._on_delivered(item, response)
            except Exception:
                _log.exception("Infinium exporter: delivery callback failed")
        return DELIVERED

    def _shrink(self, item: Delivery) -> bool:
        """Re-encode at half the size after a 413; False when that is impossible."""
        try:
            payload = json.loads(item.body)
            encoded = encode_payload(payload, max_bytes=max(1024, len(item.body) // 2))
        except Exception:
            return False
        item.body = encoded.body
        item.shrunk = True
        return True

    def _fail(self, item: Delivery, key: str, reason: str) -> bool:
        """A failed attempt: keep a spooled payload for later; True when it was kept."""
        kept = self._keep_for_later(item)
        if kept:
            self._stats.spool_deferred += 1
        else:
            self._stats.failed += 1
        if item.replayed and kept:
            _log.debug("Infinium: spooled run %r not delivered yet: %s", item.meta.run_name, reason)
            return True
        self._warn.log(
            logging.WARNING,
            key,
            "Infinium: run %r was not delivered: %s%s",
            item.meta.run_name,
            reason,
            " (kept in the spool for a later retry)" if kept else "",
        )
        return kept

    def _refused(self, item: Delivery, key: str, reason: str) -> str:
        """The server will never take this payload: set it aside, never resend it."""
        self._stats.failed += 1
        aside = ""
        if item.spool_key is not None and self._spool is not None:
            self._spool_call("reject", item.spool_key)
            aside = " (moved to the spool's rejected/ folder)"
        self._warn.log(
            logging.WARNING,
            key,
            "Infinium: run %r was not delivered: %s%s",
            item.meta.run_name,
            reason,
            aside,
        )
        return GONE

    # -- the spool ---------------------------------------------------------

    def _spool_write(self, body: bytes) -> str | None:
        assert self._spool is not None
        try:
            key = self._spool.write(body)
        except Exception as error:
            self._stats.spool_write_failed += 1
            self._warn.log(
                logging.WARNING,
                "spool-write",
                "Infinium spool: could not write a payload (%s); it is sent from memory only",
                type(error).__name__,
            )
            return None
        if key is not None:
            self._stats.spooled += 1
        return key

    def _spool_call(self, name: str, key: str) -> bool:
        """``spool.<name>(key)``, never raising; False when it failed or said so."""
        try:
            result = getattr(self._spool, name)(key)
        except Exception:
            _log.warning("Infinium spool: %s failed", name, exc_info=True)
            return False
        return result is not False

    def _keep_for_later(self, item: Delivery) -> bool:
        """Hand a spooled payload back to the spool and schedule a retry; True when kept."""
        if item.spool_key is None or self._spool is None:
            return False
        kept = self._spool_call("release", item.spool_key)
        item.spool_key = None
        if kept:
            with self._cond:
                if self._spool_next is None:
                    self._spool_next = time.monotonic() + self._spool_delay
                self._cond.notify_all()
        return kept

    def _schedule_start_replay(self, *, start_thread: bool = True) -> None:
        """Entries left by earlier processes: pick them up shortly after start."""
        if self._spool is None:
            return
        try:
            waiting = bool(self._spool.entries())
        except Exception:
            _log.warning("Infinium spool: cannot list the spool", exc_info=True)
            return
        if not waiting:
            return
        with self._cond:
            self._spool_next = time.monotonic() + self._spool_start_delay
            if start_thread:
                self._ensure_thread()
            self._cond.notify_all()

    def _spool_due(self, now: float) -> bool:
        return (
            self._spool is not None
            and not self._spool_blocked
            and self._spool_next is not None
            and now >= self._spool_next
        )

    def _replay_one(self) -> None:
        """Retry the oldest spooled payload nobody is sending; reschedule by the outcome."""
        assert self._spool is not None
        if not self._swept:
            self._swept = True
            self._spool_call_noarg("sweep_temp_files")
        try:
            claimed = self._spool.claim_next()
        except Exception:
            _log.warning("Infinium spool: cannot read the spool", exc_info=True)
            claimed = None
        if claimed is None:
            self._after_empty_pass()
            return
        key, body = claimed
        item = Delivery(body=body, meta=meta_from_payload(body), spool_key=key, replayed=True)
        self._stats.retried += 1
        outcome = self._deliver(item, max_retries=0)
        now = time.monotonic()
        with self._cond:
            if outcome in (DELIVERED, GONE):
                self._spool_delay = self._spool_retry_initial
                self._spool_next = now  # the server answers: go on with the next one
            elif outcome == AUTH:
                self._block_replays()
            else:
                self._spool_delay = min(self._spool_delay * 2, self._spool_retry_max)
                self._spool_next = now + self._spool_delay

    def _after_empty_pass(self) -> None:
        """Nothing claimable: idle, or look again later if others hold entries."""
        try:
            others = bool(self._spool.entries()) if self._spool is not None else False
        except Exception:
            others = False
        with self._cond:
            self._spool_next = time.monotonic() + self._spool_retry_max if others else None

    def _after_live_attempt(self, outcome: str) -> None:
        with self._cond:
            if outcome == DELIVERED:
                if self._spool_blocked:
                    self._spool_blocked = False  # credentials work again
                if self._spool_next is not None:
                    # The server is back: retry the spool now, from a short backoff.
                    self._spool_delay = self._spool_retry_initial
                    self._spool_next = time.monotonic()
            elif outcome == AUTH:
                self._block_replays()

    def _block_replays(self) -> None:
        """Refused credentials: stop retrying the spool, keep its files (caller holds the lock)."""
        if self._spool_blocked:
            return
        self._spool_blocked = True
        _log.error(
            "Infinium: the credentials were refused (401/403); spooled runs are kept on disk "
            "and no longer retried by this process. Fix INFINIUM_AGENT_ID / "
            "INFINIUM_AGENT_SECRET, then run `infinium-otel spool replay`."
        )

    def _spool_call_noarg(self, name: str) -> None:
        try:
            getattr(self._spool, name)()
        except Exception:
            _log.warning("Infinium spool: %s failed", name, exc_info=True)

    def _after_fork_in_child(self) -> None:
        self._reset_state()
        self._warn = RateLimitedLogger(_log)  # its lock may have been held at the fork
        self._stats = DeliveryStats()
        self._client = self._client.clone()
        self._schedule_start_replay(start_thread=False)  # the thread starts on first use


def _after_fork(ref: weakref.ReferenceType[DeliveryWorker]) -> None:
    worker = ref()
    if worker is not None:
        worker._after_fork_in_child()
