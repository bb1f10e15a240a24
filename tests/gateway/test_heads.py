"""The request head's fast path: ordinary heads give exactly what the standard
library's parser gives; every other head is left to the standard library."""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from exporter.support import agent_attributes
from infinium_otel.gateway import Gateway
from infinium_otel.gateway import http as gateway_http
from infinium_otel.gateway.heads import fast_headers, read_head_lines
from infinium_otel.sandbox import Sandbox

from .otlp import request, span
from .support import provider, start_gateway, wait_until

pytestmark = pytest.mark.timeout(60)

ORDINARY = [
    b"Host: 127.0.0.1:4318\r\nContent-Type: application/x-protobuf\r\nContent-Length: 12\r\n\r\n",
    b"host: x\r\ncOnTeNt-TyPe: application/json\r\nAUTHORIZATION: Bearer abc\r\n\r\n",
    b"X-Empty:\r\nX-Spaces:   padded  \r\nX-Tab:\tv\tw\r\nX-Colon: a:b: c\r\n\r\n",
    b"Host: x\nContent-Length: 3\n\n",  # bare line feeds
    b"\r\n",  # no headers at all
]
UNUSUAL = [
    b"Host: x\r\nX-Folded: one\r\n  two\r\nContent-Length: 3\r\n\r\n",  # folding
    b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n",  # a repeated name
    b"Content-Length: 3\r\ncontent-length: 3\r\n\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
    b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
    b"X-Latin: caf\xe9\r\n\r\n",  # not ASCII
    b"Host : x\r\n\r\n",  # a blank before the colon
    b"No colon here\r\nHost: x\r\n\r\n",
    b"Host: x\r\r\n\r\n",  # a stray carriage return
    b"Host: x\r\nX-Ctl: a\x01b\r\n\r\n",
    b"Host: x\r\n",  # the stream ends inside the head
    b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n",  # a line over 64 KiB
    b"".join(b"X-H%d: v\r\n" % n for n in range(101)) + b"\r\n",  # more than 100 lines
]


def stdlib(head: bytes) -> http.client.HTTPMessage:
    return http.client.parse_headers(io.BytesIO(head))


@pytest.mark.parametrize("head", ORDINARY)
def test_an_ordinary_head_reads_as_the_standard_library_reads_it(head: bytes) -> None:
    stream = io.BytesIO(head + b"BODY")
    lines = read_head_lines(stream)
    assert stream.read() == b"BODY"  # the head read to its end, not past it
    fast = fast_headers(lines)
    assert fast is not None
    expected = stdlib(head)
    assert fast.items() == expected.items()
    names = [name for name, _ in expected.items()] + ["Absent", "content-length", "HOST"]
    for name in names:
        assert fast.get(name) == expected.get(name)
        assert fast[name] == expected[name]
        assert (name in fast) == (name in expected)
    assert fast.get("Absent", "default") == "default"


@pytest.mark.parametrize("head", UNUSUAL)
def test_an_unusual_head_is_left_to_the_standard_library(head: bytes) -> None:
    stream = io.BytesIO(head)
    lines = read_head_lines(stream)
    assert fast_headers(lines) is None
    # The lines kept are what the standard library reads from the same stream.
    replayed = io.BytesIO(b"".join(lines))
    try:
        expected: object = http.client.parse_headers(io.BytesIO(head)).items()
    except http.client.HTTPException as exc:
        expected = type(exc)
    try:
        got: object = http.client.parse_headers(replayed).items()
    except http.client.HTTPException as exc:
        got = type(exc)
    assert got == expected


# -- over loopback: the gateway answers every head as the standard library's parse would


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[Gateway]:
    made = start_gateway(sandbox, max_body_bytes=1024 * 1024, read_timeout=2.0)
    try:
        yield made
    finally:
        made.close(5)


def exchange(gateway: Gateway, raw: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """Send ``raw`` on one connection; every answer until the gateway closes it."""
    port = gateway.http_port
    assert port is not None
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        stream = connection.makefile("rb")
        while status := stream.readline().decode("latin-1").rstrip("\r\n"):
            headers: dict[str, str] = {}
            while line := stream.readline().decode("latin-1").rstrip("\r\n"):
                name, value = line.split(":", 1)
                headers[name.lower()] = value.strip()
            body = stream.read(int(headers.get("content-length", "0")))
            headers.pop("date", None)
            answers.append((status, headers, body))
    return answers


BODY = request(span(1, attributes=agent_attributes("a"))).SerializeToString()
LENGTH = str(len(BODY)).encode()


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


REQUESTS = {
    "ordinary, kept alive": (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: " + LENGTH + b"\r\n\r\n" + BODY
    )
    * 2,
    "mixed case names": b"POST /v1/traces HTTP/1.1\r\nhOsT: x\r\n"
    b"content-TYPE: application/x-protobuf\r\nCONTENT-LENGTH: "
    + LENGTH
    + b"\r\nconnection: CLOSE\r\n\r\n"
    + BODY,
    "folded header": b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Note: one\r\n two\r\n"
    b"Content-Type: application/x-protobuf\r\nContent-Length: " + LENGTH + b"\r\n\r\n" + BODY,
    "duplicate content length": b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/x-protobuf\r\nContent-Length: " + LENGTH + b"\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\n" + BODY,
    "chunked body": b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf"
    b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY),
    "expect continue": b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    b"Content-Type: application/x-protobuf\r\nContent-Length: " + LENGTH + b"\r\n\r\n" + BODY,
    "line over 64 KiB": b"POST /v1/traces HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    "more than 100 headers": b"POST /v1/traces HTTP/1.1\r\n"
    + b"".join(b"X-H%d: v\r\n" % n for n in range(101))
    + b"\r\n",
    "HTTP/1.0": b"POST /v1/traces HTTP/1.0\r\nContent-Type: application/x-protobuf\r\n"
    b"Content-Length: " + LENGTH + b"\r\n\r\n" + BODY,
    "double slash path": b"GET //healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "health": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "cut short": b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: appl",
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_the_gateway_answers_as_with_the_standard_library_parse(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    raw = REQUESTS[name]
    fast = exchange(gateway, raw)
    accepted = gateway.stats()["gateway_spans_received"]
    monkeypatch.setattr(
        gateway_http._Handler, "parse_request", BaseHTTPRequestHandler.parse_request
    )
    assert exchange(gateway, raw) == fast
    assert gateway.stats()["gateway_spans_received"] == 2 * accepted
    assert fast  # every case here is answered, at least with an error
    if name in ("ordinary, kept alive", "mixed case names", "chunked body", "expect continue"):
        assert fast[-1][0] == "HTTP/1.1 200 OK" and accepted >= 1


def test_official_otlp_exporter_requests_take_the_fast_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The official OTLP/HTTP exporter's requests never reach the email parser."""
    parsed = []
    original = http.client.parse_headers

    def counted(*args: object, **kwargs: object) -> http.client.HTTPMessage:
        parsed.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(http.client, "parse_headers", counted)
    gateway = start_gateway(sandbox, wait=30.0)
    try:
        otlp = OTLPSpanExporter(endpoint=f"{gateway.http_url}/v1/traces")
        with provider(otlp, "svc") as made:
            tracer = made.get_tracer("t")
            for n in range(3):
                with tracer.start_as_current_span(f"run {n}", attributes=agent_attributes("a")):
                    pass
        assert wait_until(lambda: gateway.stats()["gateway_spans_accepted"] == 3)
        server_side = len(parsed)
        assert gateway.close(10)
    finally:
        gateway.close(5)
    # The exporter's own client parses the three answers' heads; the gateway parsed none.
    assert server_side == 3
    assert len(sandbox.traces()) == 3


def answer_heads(port: int, *requests: bytes) -> list[bytes]:
    """Send ``requests`` on one connection; each answer's head (status line and headers)."""
    heads: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        stream = connection.makefile("rb")
        for raw in requests:
            connection.sendall(raw)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = stream.readline()
                assert line, "the connection ended inside an answer's head"
                head += line
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            stream.read(length)
            heads.append(head)
    return heads


def test_answers_carry_their_own_status_length_and_headers(sandbox: Sandbox) -> None:
    """Answer heads are kept for a second and reused: each still says its own status,
    type, length and closing, with a Date."""
    body = request(span(1)).SerializeToString()
    post = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    missing = b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    gateway = start_gateway(sandbox, wait=30.0)
    try:
        assert gateway.http_port is not None
        first, second, third = answer_heads(gateway.http_port, post, post, missing)
    finally:
        gateway.close(5.0)
    for head in (first, second):
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0] == "HTTP/1.1 200 OK"
        assert lines[1] == "Server: infinium-otel-gateway"
        assert lines[2].startswith("Date: ") and lines[2].endswith(" GMT")
        assert lines[3:] == ["Content-Type: application/x-protobuf", "Content-Length: 0", "", ""]
    lines = third.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 404 Not Found"
    assert "Content-Type: text/plain; charset=utf-8" in lines
    assert "Connection: close" in lines
    length = int(third.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert length == len(f"only {gateway_http.TRACES_PATH} is served\n")
