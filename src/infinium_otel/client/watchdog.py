"""One overall deadline per HTTP attempt, however slowly the answer trickles in.

``requests`` and ``urllib3`` time out each socket operation, not the attempt:
a server that sends one byte every half second (in its headers or its body)
keeps an attempt alive for ever. Here every attempt registers an
``AttemptWatch`` with a shared watchdog thread, and the connection classes of
``WatchedAdapter`` attach their socket to the current attempt's watch. When
the attempt's deadline passes, the watchdog shuts the socket down, so the
blocked read ends at once and the attempt fails as a timeout.

A connection is detached from its watch before it goes back to the pool, so a
late watchdog can never cut a socket that another attempt has taken since.
"""

from __future__ import annotations

import contextlib
import datetime
import heapq
import itertools
import logging
import math
import os
import queue
import select
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager, pool_classes_by_scheme

__all__ = ["AttemptWatch", "WatchedAdapter", "attach_to_current", "lean_answer", "watching"]

logger = logging.getLogger("infinium_otel.client")


class AttemptWatch:
    """The socket of one attempt and its deadline (a ``time.monotonic()`` value)."""

    __slots__ = ("_lock", "_sock", "deadline", "finished", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.finished = False
        self._sock: Any = None
        self._lock = threading.Lock()

    def attach(self, sock: Any) -> None:
        """Watch ``sock`` from now on (cut at once when the deadline has already passed)."""
        if sock is None:
            return
        with self._lock:
            if self.finished:
                return
            self._sock = sock
            if self.fired:
                _shut(sock)

    def detach(self, sock: Any) -> None:
        """Stop watching ``sock`` (its connection goes back to the pool or is closed)."""
        with self._lock:
            if self._sock is sock:
                self._sock = None

    def fire(self) -> None:
        """The deadline passed: cut the attempt's socket, if the attempt is still running."""
        with self._lock:
            if self.finished:
                return
            self.fired = True
            if self._sock is not None:
                _shut(self._sock)

    def finish(self) -> None:
        """The attempt is over: nothing is cut after this."""
        with self._lock:
            self.finished = True
            self._sock = None

    def overdue(self) -> bool:
        return self.fired or time.monotonic() >= self.deadline


def _shut(sock: Any) -> None:
    """Shut a socket down (not close it: its owner does that) so a blocked read returns."""
    raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also for TLS: it leaves the SSL object to its thread.
            socket.socket.shutdown(raw, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that fires each registered watch when its deadline passes.

    Finished watches at the front of the queue are dropped as new ones come, so
    it holds about as many watches as attempts are running; the thread is woken
    only when a new deadline comes before the moment it sleeps until.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, AttemptWatch]] = []
        self._order = itertools.count()
        self._started = False
        self._wakes_at = math.inf  # when the sleeping thread looks again (inf: only if woken)

    def reset_after_fork(self) -> None:
        """In a forked child: the thread did not survive and its lock may be held."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap = []
        self._started = False
        self._wakes_at = math.inf

    def add(self, watch: AttemptWatch) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                thread = threading.Thread(
                    target=self._run, args=(self._cond,), name="infinium-otel-watchdog", daemon=True
                )
                thread.start()
            heap = self._heap
            while heap and heap[0][2].finished:
                heapq.heappop(heap)
            heapq.heappush(heap, (watch.deadline, next(self._order), watch))
            if watch.deadline < self._wakes_at:
                self._cond.notify()

    def _run(self, cond: threading.Condition) -> None:
        with cond:
            while True:
                if not self._heap:
                    self._wakes_at = math.inf
                    cond.wait()
                    continue
                deadline, _, watch = self._heap[0]
                if watch.finished:
                    heapq.heappop(self._heap)
                    continue
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._wakes_at = deadline
                    cond.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                try:
                    watch.fire()
                except Exception:  # never let one odd socket stop the watchdog for all
                    logger.debug("could not cut an overdue attempt", exc_info=True)


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.reset_after_fork)
_current = threading.local()


class watching:  # named as the function it was: ``with watching(deadline) as watch:``
    """Run one attempt under ``deadline``: its socket is cut if the attempt outlives it."""

    __slots__ = ("_previous", "_watch")

    def __init__(self, deadline: float) -> None:
        self._watch = AttemptWatch(deadline)
        self._previous: AttemptWatch | None = None

    def __enter__(self) -> AttemptWatch:
        watch = self._watch
        _WATCHDOG.add(watch)
        self._previous = getattr(_current, "watch", None)
        _current.watch = watch
        return watch

    def __exit__(self, *exc_info: object) -> None:
        _current.watch = self._previous
        self._previous = None
        self._watch.finish()


def attach_to_current(conn: HTTPConnection) -> bool:
    """Put ``conn``'s socket under the current attempt's watch (a pooled connection reused).

    True when there is one: the watch then cuts the socket at the attempt's deadline.
    """
    watch: AttemptWatch | None = getattr(_current, "watch", None)
    if watch is None:
        return False
    conn._infinium_watch = watch  # type: ignore[attr-defined]
    watch.attach(conn.sock)
    return True


def _detach(conn: Any) -> None:
    watch: AttemptWatch | None = getattr(conn, "_infinium_watch", None)
    if watch is not None:
        conn._infinium_watch = None
        watch.detach(getattr(conn, "sock", None))


class _WatchedHTTPConnection(HTTPConnection):
    """A connection whose socket is watched, and which sends a request in one piece.

    ``http.client`` sends the headers and then the body: two system calls, and
    on a connection without Nagle's delay two packets. With a body in bytes
    (every call of this package) the headers are held back and go out with it.
    """

    _held: bytes | None = None  # b"": hold the next send (the headers); None: send at once

    def connect(self) -> None:
        super().connect()
        attach_to_current(self)

    def request(
        self, method: str, url: str, body: Any = None, headers: Any = None, **options: Any
    ) -> None:
        attach_to_current(self)  # a reused connection is already open
        one_piece = isinstance(body, bytes) and bool(body) and not options.get("chunked")
        self._held = b"" if one_piece else None
        try:
            super().request(method, url, body=body, headers=headers, **options)
        except BaseException:
            self._held = None
            raise
        held, self._held = self._held, None
        if held:  # no body followed the headers after all
            super().send(held)

    def send(self, data: Any) -> None:
        held = self._held
        if held is None or not isinstance(data, bytes):
            super().send(data)
        elif not held:
            self._held = data  # the headers: they wait for the body
        else:
            self._held = None
            super().send(held + data)

    def close(self) -> None:
        _detach(self)
        super().close()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


def _dropped(conn: Any) -> bool:
    """``urllib3``'s ``is_connection_dropped`` for our connections: no socket, or one with
    something to read (an end, a reset, bytes nobody asked for) while it sits idle.

    One ``poll`` made here, where urllib3 goes through five Python calls to make it.
    """
    sock = conn.sock
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _QuickPool:
    """A pool's ``_get_conn`` and ``_put_conn`` for a pool that never blocks (``requests``'
    default): its stack of connections taken and filled under the queue's own mutex.

    ``queue.LifoQueue``'s ``get`` and ``put`` wrap that in two conditions whose waiters
    are only ever callers that block, which a pool that never blocks has none of; they
    cost about a sixth of a call's CPU. A pool that blocks, or whose queue is of another
    kind, is left to urllib3. A connection goes back detached from its attempt's watch.
    """

    pool: Any
    block: bool

    def _get_conn(self, timeout: float | None = None) -> Any:
        lifo = self.pool
        if self.block or type(lifo) is not queue.LifoQueue or not _HAS_POLL:
            return super()._get_conn(timeout)  # type: ignore[misc]
        with lifo.mutex:
            stack = lifo.queue
            conn = stack.pop() if stack else None
        if conn is not None and _dropped(conn):
            logger.debug("resetting a dropped connection")
            conn.close()
        return conn or self._new_conn()  # type: ignore[attr-defined]

    def _put_conn(self, conn: Any) -> None:
        _detach(conn)
        lifo = self.pool
        if not self.block and type(lifo) is queue.LifoQueue:
            with lifo.mutex:
                stack = lifo.queue
                if len(stack) < lifo.maxsize:
                    stack.append(conn)
                    return
        super()._put_conn(conn)  # type: ignore[misc]  # closed or full: urllib3 closes it


_HAS_POLL = hasattr(select, "poll")


class _WatchedHTTPConnectionPool(_QuickPool, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(_QuickPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPConnectionPool,
    "https": _WatchedHTTPSConnectionPool,
}


def _watch_pools(manager: PoolManager) -> None:
    # Only managers on urllib3's default pools (a SOCKS proxy brings its own).
    if manager.pool_classes_by_scheme is pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS


class WatchedAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections (direct or through a proxy) are watched.

    It also remembers which connection pool serves which origin and TLS settings:
    ``requests`` works that out again for every request (parsing the URL,
    building the pool key), about a tenth of a small POST's CPU. A remembered
    pool that was closed since is looked up afresh, and closing the adapter
    forgets them all.
    """

    _MAX_REMEMBERED = 16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple[Any, ...], Any] = {}

    def get_connection_with_tls_context(
        self,
        request: Any,
        verify: bool | str | None,
        proxies: Any = None,
        cert: Any = None,
    ) -> Any:
        try:
            origin = "/".join(str(request.url).split("/", 3)[:3])  # scheme://host:port
            key = (
                origin,
                verify,
                cert if not isinstance(cert, list) else tuple(cert),
                tuple(sorted(proxies.items())) if proxies else None,
            )
            hash(key)
        except Exception:  # anything unusual: no remembering
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        pool = self._pools.get(key)
        if pool is not None and getattr(pool, "pool", None) is not None:
            return pool
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        if len(self._pools) >= self._MAX_REMEMBERED:
            self._pools.clear()
        self._pools[key] = pool
        return pool

    def request_url(self, request: PreparedRequest, proxies: Mapping[str, str] | None) -> str:
        target: str | None = getattr(request, _LEAN, None)
        return target if target is not None else super().request_url(request, proxies)

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        if getattr(req, _LEAN, None) is not None:
            return _lean_response(req, resp, self)
        return super().build_response(req, resp)

    def close(self) -> None:
        self._pools.clear()
        super().close()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, PoolManager):
            _watch_pools(manager)
        return manager


_NO_TIME = datetime.timedelta(0)
# Set on a prepared request whose answer is read only for its status, headers and
# body: the URL to put in its request line, worked out beforehand.
_LEAN = "_infinium_lean"


def lean_answer(prepared: PreparedRequest, target: str) -> PreparedRequest:
    """Mark ``prepared`` to be sent to ``target`` (what ``request_url`` gives for it
    and its proxies, worked out once by the caller) and its ``Response`` built
    without what is never read of it."""
    setattr(prepared, _LEAN, target)
    return prepared


def _lean_response(req: PreparedRequest, resp: Any, adapter: HTTPAdapter) -> Response:
    """What ``build_response`` makes, less what nobody reads of it (see ``lean_answer``).

    ``build_response`` copies the headers into a new case-insensitive dict,
    guesses the text encoding and makes a cookie jar for the response, about a
    tenth of a small POST's CPU. Here the headers are urllib3's own
    (case-insensitive too), there is no encoding (the body is read as bytes) and
    no ``cookies`` attribute: the caller keeps the answer's cookies in the session's jar
    itself. ``iter_content``, ``close`` and the fields below work as on any
    ``Response``.
    """
    response: Response = Response.__new__(Response)
    response._content = False  # type: ignore[assignment]
    response._content_consumed = False  # type: ignore[attr-defined]
    response._next = None  # type: ignore[attr-defined]
    response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
    response.headers = resp.headers
    response.raw = resp
    response.reason = getattr(resp, "reason", None)  # type: ignore[assignment]
    response.encoding = None
    response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url  # type: ignore[assignment]
    response.history = []
    response.elapsed = _NO_TIME
    response.request = req
    response.connection = adapter
    return response
