"""The attempt watchdog cuts the socket of an overdue attempt, and never another's.

Real connected socket pairs stand in for an attempt's connection: a cut shows
as end-of-stream on the blocked reader.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from infinium_otel.client.watchdog import AttemptWatch, watching


def _reader_sees_eof(sock: socket.socket, within: float) -> bool:
    """Whether a blocked ``recv`` on ``sock`` returns end-of-stream within ``within`` s."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


@pytest.mark.timeout(20)
def test_an_overdue_attempt_has_its_socket_cut() -> None:
    ours, server = socket.socketpair()
    with ours, server:
        started = time.monotonic()
        with watching(time.monotonic() + 0.3) as watch:
            watch.attach(ours)
            assert _reader_sees_eof(ours, within=5.0)
        assert watch.fired
        assert time.monotonic() - started < 5.0


@pytest.mark.timeout(20)
def test_a_finished_attempt_is_never_cut() -> None:
    ours, server = socket.socketpair()
    with ours, server:
        with watching(time.monotonic() + 0.2) as watch:
            watch.attach(ours)
        time.sleep(0.5)  # well past the deadline
        assert not watch.fired
        server.sendall(b"x")
        assert ours.recv(1) == b"x"  # still whole


@pytest.mark.timeout(20)
def test_a_detached_socket_goes_on_to_its_next_user_whole() -> None:
    # A connection back in the pool is detached first: a late fire cannot reach it.
    ours, server = socket.socketpair()
    with ours, server:
        watch = AttemptWatch(time.monotonic() - 1.0)
        watch.attach(ours)
        watch.detach(ours)
        watch.fire()
        assert watch.fired
        server.sendall(b"y")
        assert ours.recv(1) == b"y"


@pytest.mark.timeout(20)
def test_a_socket_attached_after_the_deadline_is_cut_at_once() -> None:
    ours, server = socket.socketpair()
    with ours, server:
        watch = AttemptWatch(time.monotonic())
        watch.fire()
        watch.attach(ours)
        assert _reader_sees_eof(ours, within=2.0)


@pytest.mark.timeout(20)
def test_many_attempts_share_one_watchdog_and_each_is_cut_in_turn() -> None:
    pairs = [socket.socketpair() for _ in range(5)]
    results: list[bool] = []
    lock = threading.Lock()

    def attempt(sock: socket.socket, seconds: float) -> None:
        with watching(time.monotonic() + seconds) as watch:
            watch.attach(sock)
            seen = _reader_sees_eof(sock, within=5.0)
        with lock:
            results.append(seen and watch.fired)

    threads = [
        threading.Thread(target=attempt, args=(ours, 0.1 + 0.1 * n))
        for n, (ours, _) in enumerate(pairs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    for ours, server in pairs:
        ours.close()
        server.close()
    assert results == [True] * 5


class _CountedSocket:
    """A real connected socket that counts the ``sendall`` calls made on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sendalls: list[int] = []

    def sendall(self, data: bytes) -> None:
        self.sendalls.append(len(data))
        self.sock.sendall(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("body", [b'{"name": "run"}' * 100, b""])
def test_a_request_goes_out_whole_its_headers_with_a_bytes_body(body: bytes) -> None:
    from infinium_otel.client.watchdog import _WatchedHTTPConnection

    ours, server = socket.socketpair()
    with ours, server:
        conn = _WatchedHTTPConnection("127.0.0.1", 9)
        counted = _CountedSocket(ours)
        conn.sock = counted  # type: ignore[assignment]
        conn.request("POST", "/api/v1/traces", body=body, headers={"X-Test": "1"})
        server.settimeout(5)
        received = b""
        while not received.endswith(body) or b"\r\n\r\n" not in received:
            received += server.recv(65536)
        head, _, sent_body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"POST /api/v1/traces HTTP/1.1\r\n")
        assert b"X-Test: 1" in head and sent_body == body
        # One system call for headers and body when there is a body.
        assert counted.sendalls == [len(received)]
        conn.sock = None  # the socket pair closes itself
