"""Calls written and read on a pooled connection keep every guarantee of ``requests``' path.

A raw loopback server records the bytes of each request head and answers as a
test tells it: kept alive, closed after each answer, a redirect, a slow head, a
chunked or cut-short answer, over TLS. Assertions are on what the server
received and on what the client returned.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.client.wire import USER_AGENT
from infinium_otel.errors import InfiniumError, InfiniumTimeoutError, NetworkError

from .conftest import assert_secret_free
from .servers import AGENT_ID, LoopbackListener, run_watched
from .test_client_secrecy import SECRET as ODD_SECRET
from .test_client_secrecy import assert_frames_clean

SECRET = "direct-path-secret-0123456789"
TRACE_ID = "11111111-2222-4333-8444-555555555555"
BODY = json.dumps({"name": "run", "steps": ["x" * 200] * 20}).encode()

# An answer: the bytes to write for the n-th request (from 0) and whether to close after;
# a list of pieces is written one piece every 0.2 s.
Answerer = Callable[[int], tuple["bytes | list[bytes]", bool]]


def json_answer(
    payload: dict[str, object], status: str = "200 OK", extra: str = ""
) -> tuple[bytes, bool]:
    body = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body, False


def accepted(_: int) -> tuple[bytes, bool]:
    return json_answer({"traceId": TRACE_ID, "interpretedTraceResult": {"score": 1}})


class HeadServer(LoopbackListener):
    """Records each request's head and body per connection; answers with ``answer``."""

    def __init__(self, answer: Answerer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        super().__init__(tls)

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10.0)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                buffer = b""
                while not self._stop.is_set():
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    with self._lock:
                        number = len(self.heads)
                        self.heads.append(head)
                        self.bodies.append(buffer[:length])
                    buffer = buffer[length:]
                    data, close = self.answer(number)
                    for piece in data if isinstance(data, list) else [data]:
                        if piece:
                            conn.sendall(piece)
                        if isinstance(data, list) and self._stop.wait(0.2):
                            return
                    if close:
                        return
            except (OSError, ssl.SSLError):
                return

    def head_lines(self, number: int) -> list[str]:
        return self.heads[number].decode("latin-1").split("\r\n")


@pytest.fixture
def serve() -> Iterator[Callable[..., HeadServer]]:
    made: list[HeadServer] = []

    def start(answer: Answerer = accepted, tls: ssl.SSLContext | None = None) -> HeadServer:
        server = HeadServer(answer, tls)
        made.append(server)
        return server

    yield start
    for server in made:
        server.close()


def client_for(url: str, **options: object) -> InfiniumClient:
    settings: dict[str, object] = {"timeout": 5.0, "max_retries": 0, "backoff_base": 0.01}
    settings.update(options)
    return InfiniumClient(AGENT_ID, SECRET, url + "/api/v1", **settings)  # type: ignore[arg-type]


def expected_head(method: str, path: str, host: str, length: int | None) -> list[str]:
    """The head ``requests.Session`` wrote for our calls before: same lines, same order."""
    lines = [
        f"{method} /api/v1/agents/{AGENT_ID}/{path} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {USER_AGENT}",
        "Accept-Encoding: gzip, deflate",
        "Accept: application/json",
        "Connection: keep-alive",
        f"x-agent-id: {AGENT_ID}",
        f"x-agent-key: {SECRET}",
        "Content-Type: application/json",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return lines


def test_posts_and_polls_send_the_same_head_as_before_on_one_kept_alive_connection(
    serve: Callable[..., HeadServer],
) -> None:
    server = serve()
    host = server.url.split("//", 1)[1]
    with client_for(server.url) as client:
        for _ in range(3):
            assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        ready = client.get_interpreted_task_result(TRACE_ID)
    assert ready.success and ready.interpreted_result == {"score": 1}
    for number in range(3):
        assert server.head_lines(number) == expected_head("POST", "trace", host, len(BODY))
        assert server.bodies[number] == BODY
    assert server.head_lines(3) == expected_head(
        "GET", f"interpreted-result/{TRACE_ID}", host, None
    )
    assert server.connections == 1  # one connection carried all four calls


def test_a_netrc_login_is_sent_where_requests_put_it(
    serve: Callable[..., HeadServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password pass\n")
    os.chmod(netrc, 0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server = serve()
    host = server.url.split("//", 1)[1]
    with client_for(server.url) as client:
        client.send_trace_bytes(BODY)
    assert server.head_lines(0) == [
        *expected_head("POST", "trace", host, len(BODY)),
        "Authorization: Basic dXNlcjpwYXNz",
    ]


def test_a_server_closing_each_connection_after_its_answer_costs_no_failed_post(
    serve: Callable[..., HeadServer],
) -> None:
    def then_close(number: int) -> tuple[bytes, bool]:
        return accepted(number)[0], True  # kept alive by its headers, closed all the same

    server = serve(then_close)
    with client_for(server.url) as client:  # no retries: a stale connection must not be used
        for _ in range(4):
            time.sleep(0.05)  # the close reaches the client before its next POST
            assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
    assert len(server.heads) == 4
    assert server.connections == 4


def test_an_answer_saying_connection_close_is_not_reused(
    serve: Callable[..., HeadServer],
) -> None:
    def closing(_: int) -> tuple[bytes, bool]:
        return json_answer({"traceId": TRACE_ID}, extra="Connection: close\r\n")[0], False

    server = serve(closing)
    with client_for(server.url) as client:
        for _ in range(3):
            assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
    assert server.connections == 3


def test_a_connection_dropped_before_its_answer_is_retried_by_the_retry_policy(
    serve: Callable[..., HeadServer],
) -> None:
    def drop_first(number: int) -> tuple[bytes, bool]:
        return (b"", True) if number == 0 else accepted(number)

    server = serve(drop_first)
    with client_for(server.url) as client:
        with pytest.raises(NetworkError) as info:
            client.send_trace_bytes(BODY)
        assert not isinstance(info.value, InfiniumTimeoutError)
        assert_secret_free(info.value, SECRET)
        assert client.send_trace_bytes(BODY, max_retries=1).trace_id == TRACE_ID
    assert len(server.heads) == 2


def test_a_redirect_answer_is_not_followed(serve: Callable[..., HeadServer]) -> None:
    elsewhere = serve()

    def redirect(_: int) -> tuple[bytes, bool]:
        answer = (
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere.url}/api/v1/agents/"
            f"{AGENT_ID}/trace\r\nContent-Length: 0\r\n\r\n"
        )
        return answer.encode(), False

    server = serve(redirect)
    with client_for(server.url) as client:
        with pytest.raises(InfiniumError) as info:
            client.send_trace_bytes(BODY)
        with pytest.raises(InfiniumError):
            client.get_interpreted_task_result(TRACE_ID)
    assert info.value.status_code == 307
    assert "redirects are never followed" in info.value.message
    assert len(server.heads) == 2
    assert elsewhere.heads == []


@pytest.mark.timeout(30)
def test_an_answer_slower_than_the_read_timeout_fails_as_a_timeout(
    serve: Callable[..., HeadServer],
) -> None:
    def slow(_: int) -> tuple[bytes, bool]:
        time.sleep(3.0)
        return accepted(0)[0], True

    server = serve(slow)
    client = client_for(server.url, timeout=0.5)
    _, error, took = run_watched(lambda: client.send_trace_bytes(BODY), 10.0)
    client.close()
    assert isinstance(error, InfiniumTimeoutError)
    assert took < 2.5
    assert_secret_free(error, SECRET)


@pytest.mark.timeout(30)
def test_an_answer_trickling_in_is_cut_at_the_attempts_deadline(
    serve: Callable[..., HeadServer],
) -> None:
    def trickle(_: int) -> tuple[bytes | list[bytes], bool]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
        return [head, *(b" " for _ in range(40))], True

    server = serve(trickle)
    client = client_for(server.url, timeout=1.0)  # each byte comes well within the read timeout
    _, error, took = run_watched(lambda: client.send_trace_bytes(BODY), 10.0)
    client.close()
    assert isinstance(error, InfiniumTimeoutError)
    assert "still arriving" in str(error)
    assert took < 4.0
    assert len(server.heads) == 1


def test_a_chunked_answer_is_read_and_its_connection_kept(
    serve: Callable[..., HeadServer],
) -> None:
    payload = json.dumps({"traceId": TRACE_ID, "message": "stored"}).encode()

    def chunked(_: int) -> tuple[bytes, bool]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n"
        middle = len(payload) // 2
        body = b"".join(
            b"%x;ext=1\r\n%s\r\n" % (len(part), part)
            for part in (payload[:middle], payload[middle:])
        )
        return head + body + b"0\r\nX-Trailer: yes\r\n\r\n", False

    server = serve(chunked)
    with client_for(server.url) as client:
        first = client.send_trace_bytes(BODY)
        second = client.send_trace_bytes(BODY)
    assert (first.trace_id, first.message) == (TRACE_ID, "stored")
    assert second.trace_id == TRACE_ID
    assert server.connections == 1


def test_an_answer_read_up_to_the_close_is_read_whole_and_its_connection_dropped(
    serve: Callable[..., HeadServer],
) -> None:
    payload = json.dumps({"traceId": TRACE_ID, "message": "to the close"}).encode()

    def close_delimited(_: int) -> tuple[bytes | list[bytes], bool]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Folded: a\r\n b\r\n\r\n"
        return [head, payload[:10], payload[10:]], True

    server = serve(close_delimited)
    with client_for(server.url) as client:
        first = client.send_trace_bytes(BODY)
        second = client.send_trace_bytes(BODY)
    assert (first.trace_id, first.message) == (TRACE_ID, "to the close")
    assert second.message == "to the close"
    assert server.connections == 2


def test_an_answer_cut_short_is_a_network_error_not_a_delivery(
    serve: Callable[..., HeadServer],
) -> None:
    def short(_: int) -> tuple[bytes, bool]:
        whole = accepted(0)[0]
        return whole[:-5], True

    server = serve(short)
    with client_for(server.url) as client:
        with pytest.raises(NetworkError) as info:
            client.send_trace_bytes(BODY)
    assert not isinstance(info.value, InfiniumTimeoutError)
    assert len(server.heads) == 1


def test_an_answer_larger_than_the_limit_is_refused_from_its_length(
    serve: Callable[..., HeadServer],
) -> None:
    def huge(_: int) -> tuple[bytes, bool]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        return head + b"Content-Length: 9000000000\r\n\r\n{", True

    server = serve(huge)
    with client_for(server.url) as client:
        with pytest.raises(InfiniumError) as info:
            client.send_trace_bytes(BODY)
    assert "larger than" in info.value.message
    assert info.value.status_code == 200


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (its file) and a server context using it."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
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
    return str(cert), context


@pytest.mark.timeout(60)
def test_tls_with_an_untrusted_certificate_is_refused_before_anything_is_sent(
    serve: Callable[..., HeadServer], certificate: tuple[str, ssl.SSLContext]
) -> None:
    _, context = certificate
    server = serve(tls=context)
    with client_for(server.url) as client:
        with pytest.raises(NetworkError) as info:
            client.send_trace_bytes(BODY)
    assert "TLS verification failed" in info.value.message
    assert_secret_free(info.value, SECRET)
    assert server.heads == []


@pytest.mark.timeout(60)
def test_tls_trusted_through_the_environments_ca_bundle_keeps_its_connection(
    serve: Callable[..., HeadServer],
    certificate: tuple[str, ssl.SSLContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, context = certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    server = serve(tls=context)
    with client_for(server.url) as client:
        for _ in range(3):
            assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
    assert len(server.heads) == 3
    assert server.connections == 1


@pytest.mark.timeout(60)
def test_tls_verified_by_default_trusts_the_ca_bundle_requests_trusts(
    serve: Callable[..., HeadServer],
    certificate: tuple[str, ssl.SSLContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With verify on and no CA setting, ``requests`` trusts its default bundle (certifi's),
    not the system's store: here that bundle is the test's certificate."""
    import requests.adapters

    cert, context = certificate
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", cert)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    server = serve(tls=context)
    with client_for(server.url) as client:
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        assert client.get_interpreted_task_result(TRACE_ID).success
    assert len(server.heads) == 2


def _dropped(_: int) -> tuple[bytes | list[bytes], bool]:
    return b"", True


def _too_large(_: int) -> tuple[bytes | list[bytes], bool]:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 9000000000\r\n\r\n{", True


def _cut_short(_: int) -> tuple[bytes | list[bytes], bool]:
    return accepted(0)[0][:-5], True


def _trickled(_: int) -> tuple[bytes | list[bytes], bool]:
    return [b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", *(b" " for _ in range(40))], True


@pytest.mark.timeout(60)
@pytest.mark.parametrize("answer", [_dropped, _too_large, _cut_short, _trickled])
def test_a_failed_direct_call_keeps_no_frame_holding_the_secret(
    serve: Callable[..., HeadServer], answer: Answerer
) -> None:
    server = serve(answer)
    client = InfiniumClient(
        AGENT_ID, ODD_SECRET, server.url + "/api/v1", timeout=1.0, max_retries=0
    )
    _, error, _ = run_watched(lambda: client.send_trace_bytes(BODY), 10.0)
    client.close()
    assert isinstance(error, InfiniumError)
    assert_frames_clean(error)
    assert len(server.heads) == 1


def test_without_the_pool_api_calls_go_through_the_adapter_with_the_same_head(
    serve: Callable[..., HeadServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With requests < 2.32.2 or urllib3 1 the adapter's ``send`` carries every call."""
    from infinium_otel.client import call_route

    monkeypatch.setattr(call_route, "_POOL_API", False)
    server = serve()
    host = server.url.split("//", 1)[1]
    with client_for(server.url) as client:
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
        assert client.get_interpreted_task_result(TRACE_ID).success
        assert client.send_trace_bytes(BODY).trace_id == TRACE_ID
    assert server.head_lines(0) == expected_head("POST", "trace", host, len(BODY))
    assert server.head_lines(1) == expected_head(
        "GET", f"interpreted-result/{TRACE_ID}", host, None
    )
    assert server.connections == 1
