"""Answer headers read by ``parse_head`` are what ``http.client`` would have read."""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.client.response_head import LeanHeadResponse, parse_head


def _lines(block: bytes) -> list[bytes]:
    stream = io.BytesIO(block)
    lines = []
    while True:
        line = stream.readline(65537)
        lines.append(line)
        if line in (b"\r\n", b"\n", b""):
            return lines


def _seen(message: http.client.HTTPMessage) -> tuple[object, ...]:
    payload = message.get_payload()
    return (
        message.items(),
        [part.items() for part in payload] if isinstance(payload, list) else payload,
        [type(defect) for defect in message.defects],
        message.is_multipart(),
        message.get_content_type(),
        message.get("content-length"),
    )


BLOCKS = [
    b"Content-Type: application/json\r\nContent-Length: 12\r\n\r\n",
    b"content-type:application/json\nX-Empty:\nX-Spaces:   a  b  \n\n",
    b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nServer: x\r\n\r\n",
    b"X-Folded: one\r\n  two\r\nX-After: 3\r\n\r\n",  # a folded line
    b"X-Latin: caf\xe9\r\n\r\n",  # not ASCII
    b"X-Next: a\x85b\r\n\r\n",  # a byte str.splitlines splits at
    b"X-Vt: a\x0bb\r\n\r\n",
    b"X-Cr: a\rb\r\n\r\n",
    b": no name\r\nX-Ok: 1\r\n\r\n",
    b"Bad Name: 1\r\nX-Ok: 1\r\n\r\n",
    b"not a header\r\nX-Ok: 1\r\n\r\n",
    b"From nobody\r\nX-Ok: 1\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"X-Ok: 1\r\n",  # the answer ends before the blank line
    b"\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_parse_head_reads_like_http_client(block: bytes) -> None:
    expected = http.client.parse_headers(io.BytesIO(block))
    assert _seen(parse_head(_lines(block))) == _seen(expected)


_BYTE_LINE = st.binary(max_size=40).map(lambda raw: raw.replace(b"\n", b"") + b"\r\n")
_HEADER_LINE = st.tuples(
    st.text("abcXYZ-_:;. \t", min_size=1, max_size=12), st.text(max_size=20)
).map(lambda pair: f"{pair[0]}: {pair[1]}".encode("utf-8", "surrogatepass") + b"\r\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_BYTE_LINE, _HEADER_LINE), max_size=8))
def test_any_header_lines_read_like_http_client(lines: list[bytes]) -> None:
    block = b"".join(line for line in lines if line.strip()) + b"\r\n"
    expected = http.client.parse_headers(io.BytesIO(block))
    assert _seen(parse_head(_lines(block))) == _seen(expected)


@pytest.fixture
def raw_answer() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server that answers each connection with the bytes put in its list."""
    answers: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answers.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], answers
    server.close()


@pytest.mark.timeout(20)
def test_a_real_answer_after_100_continue_reads_its_status_headers_and_body(
    raw_answer: tuple[int, list[bytes]],
) -> None:
    port, answers = raw_answer
    answers.append(
        b"HTTP/1.1 100 Continue\r\nX-Skipped: 1\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nX-Folded: a\r\n b\r\n\r\n{}"
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.response_class = LeanHeadResponse
    conn.request("POST", "/x", body=b"{}")
    response = conn.getresponse()
    assert isinstance(response, LeanHeadResponse)
    assert (response.status, response.reason, response.version) == (201, "Created", 11)
    assert response.getheader("content-type") == "application/json"
    assert response.getheader("X-Skipped") is None
    assert response.getheader("X-Folded") == "a\r\n b"
    assert response.read() == b"{}"
    conn.close()


@pytest.mark.timeout(20)
def test_a_chunked_answer_and_too_many_headers(raw_answer: tuple[int, list[bytes]]) -> None:
    port, answers = raw_answer
    answers.append(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    answers.append(b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.response_class = LeanHeadResponse
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.chunked and response.read() == b"ok"
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.response_class = LeanHeadResponse
    conn.request("GET", "/")
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        conn.getresponse()
    conn.close()
