"""The watched pools take and return connections under their queue's mutex, without its
conditions, and keep every rule of urllib3's pool.

A pool that never blocks (``requests``' default) keeps its stack of connections
and placeholders at its size; a kept connection the server has closed is found
dropped and replaced; a pool that is full or closed closes what comes back; a
pool that blocks is left to urllib3. Real loopback servers throughout.
"""

from __future__ import annotations

import socket
import threading

import pytest

from infinium_otel.client.watchdog import _dropped, _WatchedHTTPConnectionPool

from .servers import answering
from .test_client_system_calls import ACCEPTED, BODY, TRACE_ID, client_for, pooled_sockets


def _pool(url: str, **options: object) -> _WatchedHTTPConnectionPool:
    host, port = url.rsplit("/", 1)[1].split(":")
    return _WatchedHTTPConnectionPool(host, int(port), **options)  # type: ignore[arg-type]


def test_calls_reuse_one_connection_and_the_stack_keeps_its_size() -> None:
    with answering(200, ACCEPTED, "application/json") as url, client_for(url) as client:
        for _ in range(5):
            assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        route = client._core.transport._routes["POST"]
        pool = route.pool[0][2]
        stack = list(pool.pool.queue)
        assert len(stack) == pool.pool.maxsize
        assert sum(conn is not None for conn in stack) == 1
        assert pool.num_connections == 1
        assert len(pooled_sockets(client)) == 1


def test_a_connection_the_server_closed_is_found_dropped_and_replaced() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    pool = _pool(f"http://127.0.0.1:{listener.getsockname()[1]}", maxsize=2)
    conn = pool._get_conn()
    conn.connect()
    accepted, _ = listener.accept()
    assert not _dropped(conn)
    pool._put_conn(conn)
    accepted.close()  # the server ends the kept connection while it sits in the pool
    for _ in range(100):
        if _dropped(conn):
            break
        threading.Event().wait(0.01)
    again = pool._get_conn()
    assert again is conn  # the same object, closed, for the caller to connect afresh
    assert again.sock is None
    pool.close()
    listener.close()


def test_a_full_or_closed_pool_closes_what_comes_back() -> None:
    with answering(200, ACCEPTED, "application/json") as url:
        pool = _pool(url, maxsize=1)
        first = pool._get_conn()
        second = pool._get_conn()  # the stack was empty: a new connection
        first.connect()
        second.connect()
        pool._put_conn(first)
        pool._put_conn(second)  # full
        assert second.sock is None
        assert list(pool.pool.queue) == [first]
        taken = pool._get_conn()
        assert taken is first and taken.sock is not None
        pool.close()
        pool._put_conn(taken)  # closed
        assert taken.sock is None


def test_a_blocking_pool_is_left_to_urllib3() -> None:
    with answering(200, ACCEPTED, "application/json") as url:
        pool = _pool(url, maxsize=1, block=True)
        conn = pool._get_conn()
        with pytest.raises(Exception, match="Pool is empty"):
            pool._get_conn(timeout=0.05)  # urllib3's blocking get, its EmptyPoolError
        pool._put_conn(conn)
        assert pool._get_conn() is conn
        pool.close()


def test_sends_from_several_threads_share_the_pool_without_loss() -> None:
    with answering(200, ACCEPTED, "application/json") as url, client_for(url) as client:
        errors: list[BaseException] = []

        def send() -> None:
            try:
                for _ in range(20):
                    assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        pool = client._core.transport._routes["POST"].pool[0][2]
        assert len(pool.pool.queue) == pool.pool.maxsize
        assert 1 <= pool.num_connections <= 4
