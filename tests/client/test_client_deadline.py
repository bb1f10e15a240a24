"""An answer that trickles in (headers or body, one byte every half second) cannot hold a
call past its deadline, its timeout, or a wait's time, for trace posts and polls alike.

The server is a raw socket on loopback; each call runs in a watched thread, so a
hang fails the test instead of blocking it.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infinium_otel.errors import InfiniumTimeoutError
from infinium_otel.sandbox import Sandbox

from .conftest import VALID_PAYLOAD, ClientFactory, assert_secret_free
from .servers import RawServer, run_watched

TRACE_ID = "123e4567-e89b-12d3-a456-426614174000"
# Long enough to outlast any deadline here at one byte per 0.5 s.
_JSON = b'{"traceId": "123e4567-e89b-12d3-a456-426614174000", "interpretedTraceResult": "x"}' * 4

BODY_TRICKLE = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_JSON)}\r\n\r\n".encode(),
    _JSON,
)
HEADER_TRICKLE = (
    b"",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 200,
)


@pytest.fixture(params=["body", "headers"])
def trickle(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    head, drip = BODY_TRICKLE if request.param == "body" else HEADER_TRICKLE
    with RawServer(head, drip, every=0.5) as server:
        yield server


def _client(client_factory: ClientFactory, server: RawServer, **options: Any) -> Any:
    return client_factory(base_url=server.url + "/api/v1", **options)


@pytest.mark.timeout(30)
def test_a_trickling_answer_ends_at_the_timeout(
    client_factory: ClientFactory, trickle: RawServer
) -> None:
    client = _client(client_factory, trickle, timeout=1.5, max_retries=0)
    _, error, took = run_watched(lambda: client.send_task_data(VALID_PAYLOAD), limit=15.0)
    assert isinstance(error, InfiniumTimeoutError), error
    assert took < 1.5 + 1.0
    assert error.timeout_duration == pytest.approx(1.5)
    assert "timed out after 1.5 s" in error.message
    assert_secret_free(error)


@pytest.mark.timeout(30)
def test_a_trickling_answer_ends_at_the_deadline(
    client_factory: ClientFactory, trickle: RawServer
) -> None:
    client = _client(client_factory, trickle, timeout=30.0, max_retries=3)

    def send() -> object:
        return client.send_trace_bytes(b'{"name":"n"}', deadline=time.monotonic() + 2.0)

    _, error, took = run_watched(send, limit=15.0)
    assert isinstance(error, InfiniumTimeoutError), error
    assert took < 2.0 + 1.0


@pytest.mark.timeout(40)
def test_retries_of_a_trickling_answer_stay_within_the_deadline(
    client_factory: ClientFactory, trickle: RawServer
) -> None:
    # Each attempt gets 1 s; retries follow while the 3.5 s budget allows another attempt.
    client = _client(client_factory, trickle, timeout=1.0, max_retries=10, backoff_base=0.05)

    def send() -> object:
        return client.send_task_data(VALID_PAYLOAD, deadline=time.monotonic() + 3.5)

    _, error, took = run_watched(send, limit=20.0)
    assert isinstance(error, InfiniumTimeoutError), error
    assert took < 3.5 + 1.0
    assert trickle.connections >= 2  # it did retry, each attempt cut at its own second


@pytest.mark.timeout(30)
def test_a_trickling_poll_ends_at_the_timeout(
    client_factory: ClientFactory, trickle: RawServer
) -> None:
    client = _client(client_factory, trickle, timeout=1.5, max_retries=0)
    _, error, took = run_watched(lambda: client.get_interpreted_task_result(TRACE_ID), limit=15.0)
    assert isinstance(error, InfiniumTimeoutError), error
    assert took < 1.5 + 1.0


@pytest.mark.timeout(30)
def test_a_wait_on_a_trickling_server_ends_within_its_time(
    client_factory: ClientFactory, trickle: RawServer
) -> None:
    client = _client(client_factory, trickle, timeout=30.0, max_retries=5, backoff_base=0.05)

    def wait() -> object:
        return client.wait_for_interpretation(
            TRACE_ID, timeout=60.0, poll_interval=1.0, deadline=time.monotonic() + 2.0
        )

    _, error, took = run_watched(wait, limit=15.0)
    assert isinstance(error, InfiniumTimeoutError), error  # a network-level timeout raises
    assert took < 2.0 + 1.0


@pytest.mark.timeout(30)
def test_the_client_still_works_after_an_attempt_was_cut(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    head, drip = BODY_TRICKLE
    with RawServer(head, drip, every=0.5) as server:
        slow = _client(client_factory, server, timeout=1.0, max_retries=0)
        _, error, _ = run_watched(lambda: slow.send_task_data(VALID_PAYLOAD), limit=10.0)
        assert isinstance(error, InfiniumTimeoutError)
    client = client_factory(timeout=1.0)
    for _ in range(5):  # connections reused after the cut are whole
        assert client.send_task_data(VALID_PAYLOAD).success
    assert len(sandbox.traces()) == 5


@pytest.mark.timeout(60)
def test_a_trickling_answer_over_tls_ends_at_the_timeout(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    head, drip = BODY_TRICKLE
    with RawServer(head, drip, every=0.5, tls=context) as server:
        client = _client(client_factory, server, timeout=1.5, max_retries=0, ca_bundle=str(cert))
        _, error, took = run_watched(lambda: client.send_task_data(VALID_PAYLOAD), limit=15.0)
    assert isinstance(error, InfiniumTimeoutError), error
    assert took < 1.5 + 1.0
