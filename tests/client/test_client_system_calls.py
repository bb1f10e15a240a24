"""What a call costs the kernel: a watched call blocks on its socket, and no call asks
the process id; the promises those checks stood for still hold.

A socket with a timeout makes Python poll it before every send and receive (two
system calls more per call), and ``os.getpid()`` is a system call too. Under an
attempt's watch the socket blocks instead, the watch cutting it at the deadline;
outside a watch the timeout still bounds each read. A fork is told by a hook
that runs in the child, not by asking the process id at every call.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from infinium_otel.client.exchange import exchange
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import InfiniumTimeoutError

from .servers import AGENT_ID, RawServer, answering, run_watched

SECRET = "system-calls-secret-0123456789"
TRACE_ID = "11111111-2222-4333-8444-555555555555"
BODY = json.dumps({"name": "run", "steps": ["x" * 100] * 10}).encode()
ACCEPTED = json.dumps({"traceId": TRACE_ID, "message": "ok"}).encode()


def client_for(url: str, timeout: float = 5.0) -> InfiniumClient:
    return InfiniumClient(
        AGENT_ID, SECRET, url + "/api/v1", timeout=timeout, max_retries=0, backoff_base=0.01
    )


def pooled_sockets(client: InfiniumClient) -> list[socket.socket]:
    """The sockets of the idle connections in the client's direct route's pool."""
    route = client._core.transport._routes["POST"]
    pool = route.pool[0][2]
    return [conn.sock for conn in list(pool.pool.queue) if conn is not None and conn.sock]


def test_a_watched_call_leaves_its_connection_blocking() -> None:
    with answering(200, ACCEPTED, "application/json") as url, client_for(url) as client:
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID  # the kept connection
        sockets = pooled_sockets(client)
    assert sockets
    assert all(sock.gettimeout() is None for sock in sockets)


@pytest.mark.timeout(30)
def test_a_blocking_call_to_a_silent_server_still_ends_at_its_deadline() -> None:
    with RawServer(b"", b"") as server:  # reads the request, never answers
        client = client_for(server.url, timeout=0.5)
        _, error, took = run_watched(lambda: client.send_trace_bytes(BODY), 10.0)
        client.close()
    assert isinstance(error, InfiniumTimeoutError)
    assert took < 3.0


@pytest.mark.timeout(30)
def test_an_exchange_outside_any_watch_keeps_its_read_timeout() -> None:
    """Nothing would cut a blocking socket there: its timeout must bound the read."""
    with RawServer(b"", b"") as server:
        host, port = server.url.rsplit("/", 1)[1].split(":")
        pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=1)
        head = f"POST /x HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()

        def call() -> object:
            return exchange(pool, head, BODY, "POST", 0.5, lambda: False, 1 << 20)

        _, error, took = run_watched(call, 10.0)
        pool.close()
    assert isinstance(error, (TimeoutError, socket.timeout))
    assert took < 3.0


def test_calls_do_not_ask_the_process_id(monkeypatch: pytest.MonkeyPatch) -> None:
    with answering(200, ACCEPTED, "application/json") as url, client_for(url) as client:
        client.send_trace_bytes(BODY)  # the session and route are made
        asked: list[int] = []
        real = os.getpid

        def counting() -> int:
            asked.append(1)
            return real()

        monkeypatch.setattr(os, "getpid", counting)
        for _ in range(5):
            assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        monkeypatch.undo()
    assert asked == []


@pytest.mark.timeout(60)
def test_a_forked_child_makes_its_own_session_and_the_parent_keeps_its_own() -> None:
    with answering(200, ACCEPTED, "application/json") as url, client_for(url) as client:
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        transport = client._core.transport
        parent_session = transport._get_session()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then leave at once
            try:
                fresh = transport._get_session() is not parent_session
                again = transport._get_session() is transport._get_session()
                sent = client.send_trace_bytes(BODY).trace_id == TRACE_ID
                os.write(write_end, b"%d%d%d" % (fresh, again, sent))
            finally:
                os._exit(0)
        os.close(write_end)
        deadline = time.monotonic() + 30
        report = b""
        while len(report) < 3 and time.monotonic() < deadline:
            chunk = os.read(read_end, 3)
            if not chunk:
                break
            report += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
        assert transport._get_session() is parent_session
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
    assert report == b"111"


def test_retry_policies_are_made_once_per_retry_count() -> None:
    with client_for("http://127.0.0.1:9") as client:
        core = client._core
        first = core.policy(2)
        assert first.max_retries == 2 and first.backoff_base == 0.01
        assert core.policy(2) is first
        assert core.policy(0).max_retries == 0
        assert core.policy(None).max_retries == 0  # the client's setting
        with pytest.raises(Exception, match="max_retries"):
            core.policy(-1)


class _CookieServer(BaseHTTPRequestHandler):
    """Sets a cookie on its first answer; echoes the Cookie header it receives."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        got = self.headers.get("Cookie") or ""
        body = json.dumps({"traceId": TRACE_ID, "message": f"cookie={got}"}).encode()
        self.send_response(200)
        if not got:
            self.send_header("Set-Cookie", "sid=abc; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_cookie_an_answer_sets_is_sent_back_and_an_emptied_jar_takes_the_route_again() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = client_for(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.send_trace_bytes(BODY).message == "cookie="
        transport = client._core.transport
        session = transport._get_session()
        assert len(session.cookies) == 1
        transport._routes.clear()
        assert client.send_trace_bytes(BODY).message == "cookie=sid=abc"  # through the session
        assert transport._routes == {}  # no route while the jar holds a cookie
        session.cookies.clear()
        assert client.send_trace_bytes(BODY).message == "cookie="
        assert "POST" in transport._routes  # an emptied jar: the route serves again
        client.close()
    finally:
        server.shutdown()
        server.server_close()
