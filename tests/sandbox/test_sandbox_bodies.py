"""Request bodies: sizes are checked before reading, so a huge body costs no memory."""

from __future__ import annotations

import json
import socket

import pytest

from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

from .support import AUTH, MINIMAL_PAYLOAD, Api

HUGE = 300 * 1024 * 1024


def request_head(sandbox: Sandbox, framing: str) -> bytes:
    return (
        f"POST /api/v1/agents/{SANDBOX_AGENT_ID}/trace HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{sandbox.port}\r\n"
        f"x-agent-id: {SANDBOX_AGENT_ID}\r\n"
        f"x-agent-key: {SANDBOX_AGENT_SECRET}\r\n"
        "Content-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def answer_to(sandbox: Sandbox, data: bytes) -> bytes:
    """Send ``data`` (and nothing more), then read the server's whole answer."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        try:
            while not _complete(received):
                piece = sock.recv(65536)
                if not piece:
                    break
                received += piece
        except TimeoutError:
            pytest.fail(f"no answer while the rest of the body was never sent: {received!r}")
    return received


def _complete(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


@pytest.mark.timeout(60)
def test_a_huge_chunk_is_refused_before_it_is_read(sandbox: Sandbox) -> None:
    # Announces 300 MB in one chunk and sends only a few bytes of it.
    data = request_head(sandbox, "Transfer-Encoding: chunked") + b"%x\r\n{ " % HUGE
    answer = answer_to(sandbox, data)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert b"1048576" in answer
    assert sandbox.traces() == []
    assert sandbox.requests[-1].status == 413


@pytest.mark.timeout(60)
def test_chunks_passing_the_limit_together_are_refused_before_the_last_is_read(
    sandbox: Sandbox,
) -> None:
    first = b"{" + b" " * (1024 * 1024 - 10)
    data = (
        request_head(sandbox, "Transfer-Encoding: chunked")
        + b"%x\r\n" % len(first)
        + first
        + b"\r\n"
        + b"%x\r\n" % HUGE
        + b" "
    )
    answer = answer_to(sandbox, data)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sandbox.traces() == []


@pytest.mark.timeout(60)
def test_a_huge_content_length_is_refused_before_it_is_read(sandbox: Sandbox) -> None:
    answer = answer_to(sandbox, request_head(sandbox, f"Content-Length: {HUGE}") + b"{ ")
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size_line", [b"-5\r\n", b"zz\r\n", b"0x10\r\n", b"5 5\r\n"])
def test_a_malformed_chunk_size_is_a_400_not_a_hang(sandbox: Sandbox, size_line: bytes) -> None:
    answer = answer_to(sandbox, request_head(sandbox, "Transfer-Encoding: chunked") + size_line)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer
    assert sandbox.traces() == []


def test_a_modestly_oversized_chunked_body_is_drained_and_the_connection_reused() -> None:
    with Sandbox(max_payload_bytes=200) as small:
        client = Api(small)
        body = json.dumps({**MINIMAL_PAYLOAD, "description": "x" * 5000}).encode()
        pieces = iter([body[i : i + 700] for i in range(0, len(body), 700)])
        refused = client.session.post(
            client.trace_url(), data=pieces, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert refused.status_code == 413
        assert "Connection" not in refused.headers  # kept alive: the body was drained
        assert client.post_trace(MINIMAL_PAYLOAD).status_code == 201
        assert [t.payload for t in small.traces()] == [MINIMAL_PAYLOAD]
        client.session.close()
    small.close()


def test_a_chunked_body_with_extensions_and_trailers_is_accepted(sandbox: Sandbox) -> None:
    body = json.dumps(MINIMAL_PAYLOAD).encode()
    data = (
        request_head(sandbox, "Transfer-Encoding: chunked")
        + b"%x;name=value\r\n" % 10
        + body[:10]
        + b"\r\n"
        + b"%X\r\n" % (len(body) - 10)
        + body[10:]
        + b"\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    answer = answer_to(sandbox, data)
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert [t.payload for t in sandbox.traces()] == [MINIMAL_PAYLOAD]
