"""OTLP/HTTP on ``/v1/traces`` with the standard library's threading server, bounded.

Bounds: a cap on requests served at once (past it: 503 with ``Retry-After``), a
socket timeout and a body deadline (a client that stalls half way is cut), a body
limit checked after decompression. Answers follow the OTLP specification and use
the request's content type. ``/healthz``, ``/readyz`` and ``/stats`` answer GETs.
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import json
import logging
import re
import socket
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from infinium_otel.gateway.bodies import BodyError, inflate, read_body
from infinium_otel.gateway.core import Admission, Pipeline
from infinium_otel.gateway.heads import fast_headers, read_head_lines
from infinium_otel.gateway.otlp_json import MalformedRequest, parse_json_request
from infinium_otel.gateway.streams import SocketWriter, kernel_timeouts, timed_reader
from infinium_otel.gateway.wire import new_request

__all__ = ["OtlpHttpServer"]

_log = logging.getLogger("infinium_otel.gateway")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACES_PATH = "/v1/traces"

# Lingering close after an error answer: at most this much more is read, for this long.
LINGER_BYTES = 4 * 1024 * 1024
LINGER_SECONDS = 1.0

# An ordinary request line: the standard library would read it the same way.
_REQUEST_LINE = re.compile(rb"([A-Z]+) (/(?!/)[!-~]*) HTTP/1\.1\r?\n")

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 5\r\nConnection: close\r\n\r\nbusy\n"
)


class OtlpHttpServer(ThreadingHTTPServer):
    """The threading server with a cap on requests at once; handlers see the pipeline."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], pipeline: Pipeline, tls: ssl.SSLContext | None = None
    ) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self.pipeline = pipeline
        self.tls = tls
        self.ready = False
        self._slots = threading.BoundedSemaphore(pipeline.options.max_concurrent_requests)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.pipeline.count(backpressure_answers=1)
            if self.tls is None:  # a TLS client could not read a plain answer: just close
                with contextlib.suppress(OSError):
                    request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if self.tls is not None:
                request = self._handshake(request, client_address)
                if request is None:
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _handshake(self, request: socket.socket, client_address: Any) -> ssl.SSLSocket | None:
        """The TLS handshake, here in the connection's own thread and under a timeout,
        so a client that stalls in it (or speaks plain HTTP) holds only its own slot."""
        assert self.tls is not None
        try:
            request.settimeout(self.pipeline.options.handshake_timeout)
            secured = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        except OSError:
            self.shutdown_request(request)
            return None
        try:
            secured.do_handshake()
        except (OSError, ValueError) as exc:
            self.pipeline.count(tls_handshakes_failed=1)
            _log.debug("Infinium gateway: TLS handshake with %s failed: %s", client_address, exc)
            with contextlib.suppress(OSError):
                secured.close()
            return None
        return secured

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("Infinium gateway: connection from %s ended with an error", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: OtlpHttpServer
    raw_requestline: bytes
    server_version = "infinium-otel-gateway"

    def setup(self) -> None:
        timeout = self.server.pipeline.options.read_timeout
        if isinstance(self.request, ssl.SSLSocket):
            super().setup()
            # The socket timeout cuts a client that stalls mid-request (or idles between them).
            self.connection.settimeout(timeout)
            return
        # Plain TCP: the kernel's timeout does the same without a poll before each call.
        self.connection = self.request
        kernel_timeouts(self.connection, timeout)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.rfile = timed_reader(self.connection)
        self.wfile = SocketWriter(self.connection)

    def parse_request(self) -> bool:
        """The standard library's ``parse_request``, with a fast path for an ordinary
        head (see ``heads``); any other is parsed by the standard library itself."""
        line = self.raw_requestline
        found = _REQUEST_LINE.fullmatch(line)
        if found is None or self.protocol_version != "HTTP/1.1":
            return super().parse_request()
        lines = read_head_lines(self.rfile)  # type: ignore[arg-type]
        headers = fast_headers(lines)
        if headers is None:  # the standard library reads the same lines and decides
            stream = self.rfile
            self.rfile = io.BytesIO(b"".join(lines))
            try:
                return super().parse_request()
            finally:
                self.rfile = stream
        self.command = found[1].decode("ascii")
        self.path = found[2].decode("ascii")
        self.request_version = "HTTP/1.1"
        self.requestline = line.decode("ascii").rstrip("\r\n")
        self.headers = headers
        connection = (headers.get("Connection") or "").lower()
        self.close_connection = connection == "close"
        expect = headers.get("Expect")
        if expect is not None and expect.lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("Infinium gateway: " + format, *args)

    # -- GET ---------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._plain(200, "ok\n")
        elif path == "/readyz":
            if self.server.ready:
                self._plain(200, "ready\n")
            else:
                self._plain(503, "not ready\n")
        elif path == "/stats":
            if not self.server.pipeline.authorized(self.headers.get("Authorization")):
                self._plain(401, "unauthorized\n")
                return
            body = json.dumps(self.server.pipeline.stats(), sort_keys=True, indent=1).encode()
            self._send(200, JSON, body)
        else:
            self._plain(404, "not found\n")

    # -- POST --------------------------------------------------------------

    def do_POST(self) -> None:
        pipeline = self.server.pipeline
        pipeline.count_request()
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self.close_connection = True
            self._plain(404, f"only {TRACES_PATH} is served\n")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        answer_type = JSON if content_type == JSON else PROTOBUF
        if not pipeline.authorized(self.headers.get("Authorization")):
            pipeline.count(requests_unauthorized=1)
            self.close_connection = True
            self._status(401, "missing or wrong bearer token", answer_type)
            return
        if content_type not in (PROTOBUF, JSON):
            pipeline.count(requests_unsupported=1)
            self.close_connection = True
            self._status(415, f"unsupported content type {content_type!r}", JSON)
            return
        try:
            request = self._request(content_type)
        except BodyError as exc:
            counter = {413: "requests_too_large", 415: "requests_unsupported"}.get(
                exc.status, "requests_malformed"
            )
            pipeline.count(**{counter: 1})
            self.close_connection = True
            self._status(exc.status, exc.message, answer_type)
            self._linger()
            return
        try:
            admission = pipeline.receive(request)
        except Exception:  # a defect here must not end the server: answer it truthfully
            pipeline.count(requests_failed=1)
            _log.exception("Infinium gateway: a request could not be processed")
            self._status(500, "the gateway could not process the request", answer_type)
            return
        if admission.busy:
            self._status(
                503 if admission.closing else 429,
                admission.message,
                answer_type,
                retry_after=pipeline.options.retry_after_seconds,
            )
            return
        self._success(admission, answer_type)

    def _linger(self) -> None:
        """After an error answer to a body not read to its end: stop writing, then read
        and discard a bounded amount for a moment before closing, so the client reads
        the answer instead of a connection reset (as HTTP servers' "lingering close")."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS / 2)
            deadline = time.monotonic() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_BYTES and time.monotonic() < deadline:
                chunk = self.connection.recv(64 * 1024)
                if not chunk:
                    break
                drained += len(chunk)

    def _request(self, content_type: str) -> Message:
        options = self.server.pipeline.options
        limit = options.max_body_bytes
        try:
            raw = read_body(
                self.rfile,  # type: ignore[arg-type]
                length=self.headers.get("Content-Length"),
                transfer_encoding=self.headers.get("Transfer-Encoding"),
                limit=limit,
                deadline=time.monotonic() + options.read_timeout,
            )
        except (TimeoutError, OSError):
            raise BodyError(408, "the body did not arrive in time") from None
        body = inflate(raw, self.headers.get("Content-Encoding"), limit)
        if content_type == JSON:
            try:
                return parse_json_request(body)
            except MalformedRequest as exc:
                raise BodyError(400, str(exc)) from None
        message = new_request()  # spans' attributes left encoded (``wire.py``)
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise BodyError(400, f"body is not an OTLP protobuf trace request: {exc}") from None
        return message

    # -- answers -----------------------------------------------------------

    def _success(self, admission: Admission, answer_type: str) -> None:
        if not admission.rejected and answer_type == PROTOBUF:
            self._send(200, PROTOBUF, b"")  # an empty response encodes as nothing
            return
        response = ExportTraceServiceResponse()
        if admission.rejected:
            response.partial_success.rejected_spans = admission.rejected
            response.partial_success.error_message = admission.message
        if answer_type == JSON:
            body = json_format.MessageToJson(response, indent=None).encode()
        else:
            body = response.SerializeToString()
        self._send(200, answer_type, body)

    def _status(
        self, code: int, message: str, answer_type: str, retry_after: int | None = None
    ) -> None:
        """An error answer: a ``google.rpc.Status``-shaped body in the request's type."""
        if answer_type == PROTOBUF:
            body = _status_proto(code, message)
        else:
            body = json.dumps({"code": code, "message": message}).encode()
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._send(code, answer_type, body, headers)

    def _plain(self, code: int, text: str) -> None:
        self._send(code, "text/plain; charset=utf-8", text.encode())

    def _send(
        self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """The status line, headers and body in one write: one segment on the wire, and one
        system call instead of two (on loopback each costs the receiver's work too)."""
        if _log.isEnabledFor(logging.DEBUG):
            self.log_request(code, len(body))
        extra = tuple(headers.items()) if headers else ()
        head = _head(code, content_type, len(body), extra, self.close_connection)
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


_date: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header, formatted once a second rather than for every answer."""
    global _date
    now = int(time.time())
    second, text = _date
    if second != now:
        text = email.utils.formatdate(now, usegmt=True)
        _date = (now, text)
    return text


# Answer heads made this second, by what they say: most answers are the same few (an
# empty 200 in protobuf), so each is formatted once a second rather than every time.
_HeadKey = tuple[int, str, int, tuple[tuple[str, str], ...], bool]
_heads: tuple[int, dict[_HeadKey, bytes]] = (0, {})
MAX_HEADS = 64


def _head(
    code: int,
    content_type: str,
    length: int,
    extra: tuple[tuple[str, str], ...],
    close: bool,
) -> bytes:
    """The status line and headers of an answer, up to and including the blank line."""
    global _heads
    now = int(time.time())
    second, made = _heads
    if second != now or len(made) >= MAX_HEADS:
        made = {}
        _heads = (now, made)
    key = (code, content_type, length, extra, close)
    head = made.get(key)
    if head is None:
        lines = [
            f"HTTP/1.1 {code} {_reason(code)}",
            f"Server: {_Handler.server_version}",
            f"Date: {_http_date()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
        ]
        lines.extend(f"{name}: {value}" for name, value in extra)
        if close:
            lines.append("Connection: close")
        lines.append("\r\n")
        head = made[key] = "\r\n".join(lines).encode("latin-1")
    return head


def _status_proto(code: int, message: str) -> bytes:
    """``google.rpc.Status`` {code, message} in protobuf wire form, without its package."""
    text = message.encode()
    out = bytearray(b"\x08")
    out += _varint(code)
    out += b"\x12" + _varint(len(text)) + text
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
