"""The background sender: a bounded queue of encoded payloads and one thread.

``export()`` must never wait on the network, so every HTTP call happens here.
The thread starts on first use, sleeps when idle, retries through the client
(one overall deadline per payload), shrinks a payload the server calls too
large, and reports each accepted run to ``on_delivered``. After ``os.fork()``
the child gets a fresh, empty worker with its own session and thread.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Protocol

from ._logging import RateLimitedLogger
from .client import InfiniumClient
from .errors import AuthenticationError, InfiniumError, PayloadTooLargeError
from .payload import encode_payload
from .response import ApiResponse

__all__ = ["Delivery", "DeliveryStats", "DeliveryWorker", "RunMeta", "Spool"]

_log = logging.getLogger("infinium_otel.delivery")


@dataclasses.dataclass(frozen=True)
class RunMeta:
    """What the interpretation processor needs to tie a result back to the run."""

    otel_trace_id: int
    otel_span_id: int
    run_name: str
    agent_name: str | None = None
    service_name: str | None = None


@dataclasses.dataclass
class Delivery:
    body: bytes
    meta: RunMeta
    spool_key: str | None = None
    shrunk: bool = False


class Spool(Protocol):
    """Durable storage for payloads until the server accepts them."""

    def write(self, body: bytes) -> str | None: ...

    def remove(self, key: str) -> None: ...


@dataclasses.dataclass
class DeliveryStats:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    failed_auth: int = 0
    dropped_queue_full: int = 0
    dropped_after_shutdown: int = 0
    abandoned_at_shutdown: int = 0
    shrunk_after_413: int = 0


class DeliveryWorker:
    """Sends payloads on its own thread; ``submit`` never blocks."""

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
    ) -> None:
        self._client = client
        self._max_queue = max_queue
        self._retry_window = retry_window
        self._on_delivered = on_delivered
        self._on_tick = on_tick
        self._tick_interval = tick_interval
        self._spool = spool
        self.stats = DeliveryStats()
        self._warn = RateLimitedLogger(_log)
        self._reset_state()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def _reset_state(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Delivery] = deque()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ticking = False
        self._cancel = threading.Event()
        self._hard_deadline: float | None = None

    # -- producer side -----------------------------------------------------

    def submit(self, delivery: Delivery) -> bool:
        """Queue a payload; the oldest is dropped (and counted) when the queue is full."""
        if self._spool is not None and delivery.spool_key is None and not self._stopping:
            delivery.spool_key = self._spool_write(delivery.body)  # disk, outside the lock
        with self._cond:
            if self._stopping:
                self.stats.dropped_after_shutdown += 1
                return False
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.stats.dropped_queue_full += 1
                self._warn.log(
                    logging.WARNING,
                    "queue-full",
                    "Infinium delivery queue is full (%d payloads); dropped the oldest run",
                    self._max_queue,
                )
            self._queue.append(delivery)
            self.stats.queued += 1
            self._ensure_thread()
            self._cond.notify_all()
        return True

    def request_ticks(self) -> None:
        """Ask for periodic ``on_tick`` calls until it returns False (buffered spans age out)."""
        with self._cond:
            if self._stopping or self._ticking:
                return
            self._ticking = True
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
        """Deliver what is queued within ``timeout``, then stop; True when all went out."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._stopping = True
            self._hard_deadline = deadline
            self._cond.notify_all()
        delivered_all = self.flush(max(0.0, deadline - time.monotonic()))
        with self._cond:
            if self._queue:
                self.stats.abandoned_at_shutdown += len(self._queue)
                self._queue.clear()
            if self._in_flight:
                delivered_all = False
            self._cond.notify_all()
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
            with self._cond:
                while not self._queue:
                    if self._stopping:
                        return
                    if self._ticking:
                        wait = next_tick - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._queue:
                    item = self._queue.popleft()
                    self._in_flight += 1
            if self._ticking and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_interval
                self._tick()
            if item is None:
                continue
            try:
                self._deliver(item)
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

    def _deliver(self, item: Delivery) -> None:
        deadline = time.monotonic() + self._retry_window
        if self._hard_deadline is not None:
            deadline = min(deadline, self._hard_deadline)
        try:
            response = self._client.send_trace_bytes(
                item.body, deadline=deadline, cancel=self._cancel
            )
        except PayloadTooLargeError:
            if item.shrunk or not self._shrink(item):
                self._fail(item, "too-large", "the server refused the payload as too large")
                return
            self.stats.shrunk_after_413 += 1
            self._deliver(item)
            return
        except AuthenticationError as error:
            self.stats.failed_auth += 1
            self._fail(item, "auth", f"credentials refused ({error.status_code})")
            return
        except InfiniumError as error:
            self._fail(item, type(error).__name__, str(error))
            return
        except Exception as error:  # never let the thread die
            self._fail(item, "unexpected", f"{type(error).__name__}")
            return
        self.stats.delivered += 1
        if item.spool_key is not None and self._spool is not None:
            try:
                self._spool.remove(item.spool_key)
            except Exception:
                _log.exception("Infinium spool: could not remove a delivered payload")
        if self._on_delivered is not None:
            try:
                self._on_delivered(item, response)
            except Exception:
                _log.exception("Infinium exporter: delivery callback failed")

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

    def _fail(self, item: Delivery, key: str, reason: str) -> None:
        self.stats.failed += 1
        kept = " (kept in the spool for a later retry)" if item.spool_key else ""
        self._warn.log(
            logging.WARNING,
            key,
            "Infinium: run %r was not delivered: %s%s",
            item.meta.run_name,
            reason,
            kept,
        )

    def _spool_write(self, body: bytes) -> str | None:
        assert self._spool is not None
        try:
            return self._spool.write(body)
        except Exception:
            self._warn.log(logging.WARNING, "spool-write", "Infinium spool: could not write")
            return None

    def _after_fork_in_child(self) -> None:
        self._reset_state()
        self.stats = DeliveryStats()
        self._client = self._client.clone()


def _after_fork(ref: weakref.ReferenceType[DeliveryWorker]) -> None:
    worker = ref()
    if worker is not None:
        worker._after_fork_in_child()
