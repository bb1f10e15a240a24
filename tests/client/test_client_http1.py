"""The request head written and the answer heads read without ``http.client``.

``parse_head`` takes only what ``http.client`` would read the same way and
leaves everything else to it (None); ``request_head`` writes what it writes.
"""

from __future__ import annotations

import http.client
import io

import pytest

from infinium_otel.client.http1 import (
    CHUNKED,
    chunk_size,
    header_map,
    host_header,
    parse_head,
    request_head,
)


def test_an_ordinary_head_reads_as_http_client_reads_it() -> None:
    head = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Spaces:   padded  \r\nContent-Length: 12"
    )
    parsed = parse_head(head, "POST")
    assert parsed is not None
    reference = http.client.HTTPResponse(_FakeSocket(head + b"\r\n\r\n" + b"x" * 12))  # type: ignore[arg-type]
    reference.begin()
    assert (parsed.status, parsed.reason) == (reference.status, reference.reason)
    assert list(parsed.fields) == reference.getheaders()
    assert parsed.length == 12 and parsed.keep_alive
    assert header_map(parsed.fields) == {
        "content-type": "application/json",
        "set-cookie": "a=1, b=2",
        "x-spaces": "padded  ",
        "content-length": "12",
    }


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 100 Continue\r\nContent-Length: 0",  # interim
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0",  # folded line
        b"HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 0",  # not ASCII
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain",  # read up to the close
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1",  # two lengths
        b"HTTP/1.1 200 OK\r\nContent-Length: -1",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked",  # both
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 0",
        b"HTTP/2 200\r\nContent-Length: 0",
        b"ICY 200 OK\r\nContent-Length: 0",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 100 + b"Content-Length: 0",
    ],
)
def test_an_unusual_head_is_left_to_http_client(head: bytes) -> None:
    assert parse_head(head, "POST") is None


def test_framing_and_keep_alive_follow_http_client() -> None:
    chunked = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked", "POST")
    assert chunked is not None and chunked.length == CHUNKED
    closing = parse_head(b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2", "POST")
    assert closing is not None and not closing.keep_alive
    old = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 2", "POST")
    assert old is not None and not old.keep_alive
    kept = parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2", "POST")
    assert kept is not None and kept.keep_alive
    empty = parse_head(b"HTTP/1.1 204 No Content", "POST")
    assert empty is not None and empty.length == 0


def test_chunk_sizes() -> None:
    assert chunk_size(b"1a") == 26
    assert chunk_size(b"0;name=value") == 0
    assert chunk_size(b"") is None
    assert chunk_size(b"-1") is None
    assert chunk_size(b"zz") is None


def test_the_request_head_is_what_http_client_writes() -> None:
    headers = [("User-Agent", "ua/1"), ("x-agent-key", 'k e"y'), ("Content-Length", "2")]
    written = request_head("POST", "/api/v1/x", host_header("127.0.0.1", 8080, 80), headers)
    assert written is not None
    reference = http.client.HTTPConnection("127.0.0.1", 8080)
    sent: list[bytes] = []
    reference.send = sent.append  # type: ignore[method-assign]
    reference.putrequest("POST", "/api/v1/x", skip_accept_encoding=True)
    for name, value in headers:
        reference.putheader(name, value)
    reference.endheaders()
    assert written == b"".join(sent)


@pytest.mark.parametrize(
    "headers",
    [[("x-agent-key", "line\r\nInjected: yes")], [("bad name", "v")], [("x", "caf\u00e9")]],
)
def test_a_header_http_client_would_refuse_or_encode_is_not_written(
    headers: list[tuple[str, str]],
) -> None:
    assert request_head("GET", "/x", "127.0.0.1", headers) is None


def test_host_header_matches_http_client() -> None:
    assert host_header("127.0.0.1", None, 80) == "127.0.0.1"
    assert host_header("example.com", 443, 443) == "example.com"
    assert host_header("example.com", 8443, 443) == "example.com:8443"
    assert host_header("::1", 8080, 80) == "[::1]:8080"


class _FakeSocket:
    """Bytes to read, as a socket's ``makefile`` gives them to ``http.client``."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))  # type: ignore[arg-type]
