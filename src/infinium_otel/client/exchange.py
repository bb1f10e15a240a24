"""One request and its answer on a connection of ``requests``' own pool, for little CPU.

The adapter's connection pool still owns the connections: it opens them
(connect timeout, TLS verified with the route's CA settings, the watchdog
attached), checks a kept-alive one for a drop before reuse, and keeps them.
Here a connection taken from it gets the request head (worked out once per
route, see ``http1``) and body in one ``sendall``, and its answer is read
straight from the socket when it is an ordinary one (see ``http1.parse_head``);
any other answer is read by ``http.client`` through its public
``HTTPResponse``, and its connection is not reused. A connection goes back to
the pool only when its answer was read exactly to its end and it may be kept
alive; after any failure it is closed.
"""

from __future__ import annotations

import errno
import http.client
import io
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
import urllib3.exceptions

from infinium_otel.client.http1 import CHUNKED, chunk_size, header_map, parse_head
from infinium_otel.client.watchdog import attach_to_current

__all__ = ["Answer", "AnswerOverdue", "AnswerTooLarge", "exchange"]

_CHUNK_BYTES = 65_536
# A head larger than this, or one with bare-LF line ends, is left to http.client
# (which refuses lines over 64 KiB and more than 100 headers).
_MAX_HEAD_BYTES = 4 * 65_536
_MAX_RECV_BYTES = 1_048_576
_ANSWERED_EARLY = (errno.ECONNRESET, errno.EPROTOTYPE)

# Status, header fields (in order), headers by lower-cased name (see ``header_map``), body.
Answer = tuple[int, tuple[tuple[str, str], ...], Mapping[str, str], bytes]


class AnswerTooLarge(Exception):
    """The answer's body is larger than the caller's limit (``status`` is its status)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class AnswerOverdue(Exception):
    """The attempt's deadline passed while the answer was still arriving."""


def exchange(
    pool: Any,
    head: bytes,
    body: bytes | None,
    method: str,
    timeout: float,
    overdue: Callable[[], bool],
    limit: int,
) -> Answer:
    """Send ``head`` and ``body`` on a connection from ``pool``; the answer, body decoded.

    ``timeout`` bounds the connect. Under an attempt's watch (the transport's
    calls) the connected socket then blocks, and the watch bounds every write
    and read: it cuts the socket at the attempt's deadline, which comes before
    any socket timeout of ``timeout`` could (each operation starts after the
    attempt). A socket with a timeout would cost two system calls more per call,
    as Python polls it before each send and receive. Outside a watch,
    ``timeout`` bounds each read and write. ``overdue`` is asked after each
    read; a body over ``limit`` bytes raises ``AnswerTooLarge``.
    """
    conn = pool._get_conn()  # a kept-alive connection that was dropped comes back closed
    reusable = False
    try:
        if conn.is_closed:
            conn.timeout = timeout
            conn.connect()
        watched = attach_to_current(conn)
        sock = conn.sock
        wanted = None if watched else timeout
        if sock.gettimeout() != wanted:  # setting it costs a system call, even to the same
            sock.settimeout(wanted)
        try:
            sock.sendall(head + body if body else head)
        except OSError as error:
            # As urllib3 does: a server may answer and close before taking the whole
            # body (a 413), and its answer is still there to read.
            if not isinstance(error, BrokenPipeError) and error.errno not in _ANSWERED_EARLY:
                raise
        answer, reusable = _read_answer(sock, method, overdue, limit)
        return answer
    finally:
        if reusable:
            pool._put_conn(conn)
        else:
            conn.close()
            pool._put_conn(None)


def _read_answer(
    sock: Any, method: str, overdue: Callable[[], bool], limit: int
) -> tuple[Answer, bool]:
    """The answer and whether its connection may carry the next request."""
    received = _Received(sock, overdue)
    end = received.head_end()
    head = None if end < 0 else parse_head(received.data[:end], method)
    if head is None:
        return _read_with_http_client(sock, received.data, method, overdue, limit), False
    received.pos = end + 4
    if head.length == CHUNKED:
        raw = _read_chunks(received, head.status, limit)
    elif head.length > limit:
        raise AnswerTooLarge(head.status)
    else:
        raw = received.take(head.length)
    content = _decoded(raw, head.headers, head.status, limit)
    answer = (head.status, head.fields, head.headers, content)
    return answer, head.keep_alive and not received.left()


def _read_chunks(received: _Received, status: int, limit: int) -> bytes:
    """A chunked body, its trailer lines read and dropped (as ``http.client`` does)."""
    parts: list[bytes] = []
    size = 0
    while True:
        line = received.line()
        length = chunk_size(line)
        if length is None:
            raise urllib3.exceptions.ProtocolError(
                "Connection broken: invalid chunk length", http.client.IncompleteRead(b"")
            )
        if length == 0:
            break
        size += length
        if size > limit:
            raise AnswerTooLarge(status)
        parts.append(received.take(length))
        if received.line():
            raise urllib3.exceptions.ProtocolError(
                "Connection broken: a chunk longer than its length",
                http.client.IncompleteRead(b""),
            )
    while received.line():  # trailers, up to the blank line
        pass
    return b"".join(parts)


class _Received:
    """What has come from the socket and not been used yet (``data[pos:]``)."""

    __slots__ = ("_overdue", "_sock", "data", "pos")

    def __init__(self, sock: Any, overdue: Callable[[], bool]) -> None:
        self._sock = sock
        self._overdue = overdue
        self.data = b""
        self.pos = 0

    def _more(self) -> bool:
        """Receive more (False at the end of the stream)."""
        chunk = self._sock.recv(_CHUNK_BYTES)
        if not chunk:
            return False
        self.data = self.data[self.pos :] + chunk if self.pos else self.data + chunk
        self.pos = 0
        if self._overdue():
            raise AnswerOverdue
        return True

    def head_end(self) -> int:
        """Where the head's blank line starts; -1 when the head is unusual or cut short."""
        while True:
            end = self.data.find(b"\r\n\r\n")
            if end >= 0 or len(self.data) > _MAX_HEAD_BYTES or b"\n\n" in self.data:
                return end
            if not self._more():
                if not self.data:
                    raise urllib3.exceptions.ProtocolError(
                        "Connection aborted.",
                        http.client.RemoteDisconnected(
                            "Remote end closed connection without response"
                        ),
                    )
                return -1  # a head cut short: http.client says how

    def take(self, count: int) -> bytes:
        """The next ``count`` bytes (received in parts, never past them)."""
        have = len(self.data) - self.pos
        if have >= count:
            taken = self.data[self.pos : self.pos + count]
            self.pos += count
            return taken
        parts = [self.data[self.pos :]]
        self.data, self.pos = b"", 0
        while have < count:
            chunk = self._sock.recv(min(count - have, _MAX_RECV_BYTES))
            if not chunk:
                raise urllib3.exceptions.ProtocolError(
                    "Response ended prematurely", http.client.IncompleteRead(b"", count - have)
                )
            parts.append(chunk)
            have += len(chunk)
            if self._overdue():
                raise AnswerOverdue
        return b"".join(parts)

    def line(self) -> bytes:
        """The next line, without its CRLF (at most 64 KiB, as ``http.client`` allows)."""
        while True:
            end = self.data.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.data[self.pos : end]
                self.pos = end + 2
                return line
            if len(self.data) - self.pos > 65_536:
                raise urllib3.exceptions.ProtocolError(
                    "Connection broken: a line too long", http.client.LineTooLong("chunk line")
                )
            if not self._more():
                raise urllib3.exceptions.ProtocolError(
                    "Response ended prematurely", http.client.IncompleteRead(b"")
                )

    def left(self) -> int:
        return len(self.data) - self.pos


def _read_with_http_client(
    sock: Any, received: bytes, method: str, overdue: Callable[[], bool], limit: int
) -> Answer:
    """An unusual answer, read by ``http.client`` from what came so far and the socket."""
    response = http.client.HTTPResponse(_Replay(sock, received), method=method)  # type: ignore[arg-type]
    try:
        response.begin()
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read(_CHUNK_BYTES)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise AnswerTooLarge(response.status)
            chunks.append(chunk)
            if overdue():
                raise AnswerOverdue
    except http.client.HTTPException as error:
        if isinstance(error, OSError):
            raise
        raise urllib3.exceptions.ProtocolError(f"Connection broken: {error!r}", error) from error
    finally:
        response.close()
    fields = tuple(response.getheaders())
    headers = header_map(fields)
    content = _decoded(b"".join(chunks), headers, response.status, limit)
    return response.status, fields, headers, content


def _decoded(content: bytes, headers: Mapping[str, str], status: int, limit: int) -> bytes:
    """The body with its ``Content-Encoding`` undone as urllib3 undoes it, up to ``limit``.

    ``headers`` by lower-cased name, repeated values joined (see ``header_map``).
    """
    encoding = headers.get("content-encoding")
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return content
    decoder = urllib3.HTTPResponse(
        body=io.BytesIO(content),
        headers={"Content-Encoding": encoding},
        status=status,
        preload_content=False,
        decode_content=True,
    )
    chunks: list[bytes] = []
    size = 0
    for chunk in decoder.stream(_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(status)
        chunks.append(chunk)
    return b"".join(chunks)


class _ReplayStream(io.RawIOBase):
    """The bytes already received, then the socket's."""

    def __init__(self, sock: Any, received: bytes) -> None:
        super().__init__()
        self._sock = sock
        self._received = memoryview(received)

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if self._received:
            count = min(len(target), len(self._received))
            target[:count] = self._received[:count]
            self._received = self._received[count:]
            return count
        return int(self._sock.recv_into(target))


class _Replay:
    """What ``http.client.HTTPResponse`` needs of a socket: ``makefile`` for reading."""

    def __init__(self, sock: Any, received: bytes) -> None:
        self._stream = _ReplayStream(sock, received)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._stream)
