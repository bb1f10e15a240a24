"""The plain connection's streams: the kernel's timeout cuts a stalled peer, data flows."""

from __future__ import annotations

import socket

import pytest

from infinium_otel.gateway.streams import SocketWriter, kernel_timeouts, timed_reader


@pytest.mark.timeout(20)
def test_a_read_that_waits_past_the_timeout_raises_timeout_error() -> None:
    server, client = socket.socketpair()
    with server, client:
        kernel_timeouts(server, 0.2)
        reader = timed_reader(server)
        client.sendall(b"POST / HTTP/1.1\r\n")
        assert reader.readline() == b"POST / HTTP/1.1\r\n"
        with pytest.raises(TimeoutError):
            reader.readline()  # nothing more comes: cut, not read as the end of the stream


@pytest.mark.timeout(20)
def test_a_timeout_under_a_microsecond_still_times_out() -> None:
    server, client = socket.socketpair()
    with server, client:
        kernel_timeouts(server, 0.0)  # zero would mean "wait forever" to the kernel
        with pytest.raises(TimeoutError):
            timed_reader(server).read1(10)


@pytest.mark.timeout(20)
def test_the_end_of_the_stream_and_writes_pass_through() -> None:
    server, client = socket.socketpair()
    with server, client:
        kernel_timeouts(server, 5.0)
        assert SocketWriter(server).write(b"answer") == 6
        assert client.recv(16) == b"answer"
        client.sendall(b"body")
        client.shutdown(socket.SHUT_WR)
        reader = timed_reader(server)
        assert reader.read1(64) == b"body"
        assert reader.read1(64) == b""
