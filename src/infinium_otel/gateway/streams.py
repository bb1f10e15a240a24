"""A plain TCP connection's streams with the kernel enforcing the timeout.

A Python socket given a timeout polls before every receive and every send: two
system calls where one does, and each one hands the interpreter lock to another
thread and takes it back. With many connections served at once that hand-over,
not the work, was most of a request's cost. Here the socket stays blocking and the
kernel's ``SO_RCVTIMEO`` / ``SO_SNDTIMEO`` bound each call instead: a call that
waits past the timeout fails with ``EAGAIN``, read here as ``TimeoutError``, so a
stalled client is still cut as before. TLS connections keep the socket timeout.
"""

from __future__ import annotations

import io
import socket
import struct

__all__ = ["READ_BUFFER", "KernelTimedReader", "SocketWriter", "kernel_timeouts", "timed_reader"]

# Room for an ordinary request's head and body in one receive.
READ_BUFFER = 64 * 1024


def kernel_timeouts(connection: socket.socket, seconds: float) -> None:
    """Blocking calls on ``connection`` that wait more than ``seconds`` fail (EAGAIN)."""
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    if whole <= 0 and micro <= 0:
        whole, micro = 0, 1  # zero would mean "no timeout" to the kernel
    value = struct.pack("ll", whole, micro)
    connection.settimeout(None)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class KernelTimedReader(io.RawIOBase):
    """Receives from a blocking socket with ``SO_RCVTIMEO``; a timeout raises
    ``TimeoutError`` (the socket module's own reader would return None, read as the
    end of the stream by a buffered reader)."""

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self._connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            return self._connection.recv_into(buffer)
        except BlockingIOError:
            raise TimeoutError("timed out") from None


def timed_reader(connection: socket.socket) -> io.BufferedReader:
    """The buffered request stream over ``connection`` (after ``kernel_timeouts``)."""
    return io.BufferedReader(KernelTimedReader(connection), READ_BUFFER)


class SocketWriter(io.BufferedIOBase):
    """Each write is one ``sendall``: an answer is written whole, nothing is held back."""

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self._connection = connection

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._connection.sendall(data)
        return len(data)
