"""The sandbox's HTTP request handler: body reading, injected faults and the endpoints.

Kept apart from the ``Sandbox`` lifecycle so the wire behaviour can be read on its own;
the handler reaches the sandbox's settings and store through ``self.server.sandbox``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from infinium_otel.credentials import is_valid_uuid
from infinium_otel.sandbox import pages
from infinium_otel.sandbox.faults import Fault
from infinium_otel.sandbox.host_check import host_allowed
from infinium_otel.sandbox.interpretation import interpret
from infinium_otel.sandbox.recording import RecordedRequest, redacted_headers
from infinium_otel.sandbox.validation import validate_trace_payload

if TYPE_CHECKING:
    import threading

    from infinium_otel.sandbox.faults import FaultQueue
    from infinium_otel.sandbox.store import StoredTrace


class SandboxState(Protocol):
    """What a request handler reads and changes on the sandbox that serves it."""

    agent_id: str
    agent_secret: str
    interpretation_delay: float
    not_ready_status: int
    max_payload_bytes: int
    strict: bool
    faults: FaultQueue

    def traces(self) -> list[StoredTrace]: ...

    def trace(self, trace_id: str) -> StoredTrace | None: ...

    def _accept(
        self, payload: dict[str, Any], body_bytes: int, agent_id: str | None = None
    ) -> StoredTrace: ...

    def secret_of(self, agent_id: str) -> str | None: ...

    def _record(self, request: RecordedRequest) -> None: ...


class HandlerServer(Protocol):
    """The HTTP server a handler runs under: the sandbox, its stop signal, its own names."""

    sandbox: SandboxState
    stopping: threading.Event
    allowed_hosts: frozenset[str]
    api_host_checked: bool


logger = logging.getLogger("infinium_otel.sandbox")

API_BASE_PATH = "/api/v1"

_TRACE_PATH = re.compile(r"^/api/v1/agents/([^/]*)/trace/?$")
_RESULT_PATH = re.compile(r"^/api/v1/agents/([^/]*)/interpreted-result/([^/]*)/?$")
_DETAIL_PAGE = re.compile(r"^/traces/([^/]*)/?$")
_LISTING_ITEM = re.compile(r"^/api/sandbox/traces/([^/]*)/?$")
# Bodies up to this size are read and discarded after a 413 so the client sees the
# answer instead of a reset; anything larger closes the connection.
_DISCARD_LIMIT = 64 * 1024 * 1024
_DISCARD_PIECE = 64 * 1024
# A chunk-size line: hex digits, optional extensions (RFC 9112 7.1).
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r?\n$")
# HTML pages show untrusted payloads: no scripts, no framing, no type sniffing.
_HTML_HEADERS = {
    "Content-Security-Policy": pages.CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "infinium-otel-sandbox"
    timeout = 60
    # Headers and body go out in separate writes; without TCP_NODELAY each
    # keep-alive answer waits ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    server: HandlerServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------ plumbing

    def _dispatch(self) -> None:
        self._recorded = False
        self._fault: Fault | None = None
        self._body_bytes = 0
        path = urlsplit(self.path).path
        self._endpoint = _endpoint_of(path)
        if not self._host_ok():
            self._misdirected(path)
            return
        body, too_large = self._read_body(self.server.sandbox.max_payload_bytes)
        self._body_bytes = len(body) if body is not None else 0
        try:
            if self._endpoint != "other":
                fault = self.server.sandbox.faults.pop(self._endpoint)
                if fault is not None:
                    self._fault = fault
                    self._answer_fault(fault)
                    return
            self._route(path, body, too_large)
        except OSError:
            # The client went away (timed out, reset); nothing to answer.
            self.close_connection = True
            logger.debug("sandbox lost the client during %s %s", self.command, path)
        except Exception:
            logger.exception("sandbox failed to handle %s %s", self.command, path)
            if not self._recorded:
                self.close_connection = True
                self._error(500, "Sandbox internal error")
        finally:
            self._record(None)

    def _host_ok(self) -> bool:
        """False when ``Host`` names someone else (pages always, the API on loopback)."""
        if self._endpoint != "other" and not self.server.api_host_checked:
            return True
        return host_allowed(self.headers.get("Host"), self.server.allowed_hosts)

    def _misdirected(self, path: str) -> None:
        """Refuse without reading the body: the request was not meant for this server."""
        self.close_connection = True
        try:
            self._error(421, "Misdirected request: this sandbox answers only to its own address")
        except OSError:
            logger.debug("sandbox lost the client during %s %s", self.command, path)
        finally:
            self._record(None)

    def _record(self, status: int | None) -> None:
        """Record this request once, before the client can see any answer."""
        if self._recorded:
            return
        self._recorded = True
        self.server.sandbox._record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                status=status,
                headers=redacted_headers(self.headers.items()),
                at=time.monotonic(),
                endpoint=self._endpoint,
                body_bytes=self._body_bytes,
                fault=self._fault,
            )
        )

    def _read_body(self, limit: int) -> tuple[bytes | None, bool]:
        """The request body, or (None, True) when it is over ``limit`` bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b"", False
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError(raw_length)
        except ValueError:
            self.close_connection = True
            return b"", False
        if length > limit:
            self._discard(length)
            return None, True
        return self.rfile.read(length), False

    def _read_chunked(self, limit: int) -> tuple[bytes | None, bool]:
        """A chunked body, each chunk size checked against ``limit`` before it is read."""
        body = bytearray()  # one buffer: many tiny chunks cost no more than one big one
        while True:
            size = self._chunk_size()
            if size is None:
                return self._malformed_body()
            if size == 0:
                self._skip_trailers()
                return bytes(body), False
            if len(body) + size > limit:
                self._discard_chunks(len(body), size)
                return None, True
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                return self._malformed_body()
            body += chunk

    def _chunk_size(self) -> int | None:
        """The next chunk's announced size; None when the size line is malformed."""
        match = _CHUNK_SIZE.match(self.rfile.readline(1024))
        return int(match.group(1), 16) if match else None

    def _skip_trailers(self) -> None:
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass

    def _malformed_body(self) -> tuple[bytes, bool]:
        """What a broken body reads as: empty (a 400 for a trace), and the connection ends."""
        self.close_connection = True
        return b"", False

    def _discard_chunks(self, seen: int, size: int) -> None:
        """Drain the rest of an oversized chunked body in bounded pieces, if it is modest.

        Once the announced total passes ``_DISCARD_LIMIT`` nothing more is read: the
        connection is answered and closed at once.
        """
        while size > 0:
            seen += size
            if seen > _DISCARD_LIMIT or not self._drain(size):
                self.close_connection = True
                return
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                self.close_connection = True
                return
            next_size = self._chunk_size()
            if next_size is None:
                self.close_connection = True
                return
            size = next_size
        self._skip_trailers()

    def _drain(self, length: int) -> bool:
        """Read and drop ``length`` bytes, a piece at a time; False when the client stopped."""
        remaining = length
        while remaining > 0:
            piece = self.rfile.read(min(remaining, _DISCARD_PIECE))
            if not piece:
                return False
            remaining -= len(piece)
        return True

    def _discard(self, length: int) -> None:
        if length > _DISCARD_LIMIT or not self._drain(length):
            self.close_connection = True

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        extra = dict(headers or {})
        if "content-type" not in {k.lower() for k in extra}:
            self.send_header("Content-Type", content_type)
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in extra.items():
            self.send_header(name, value)
        no_body = status in (204, 304) or 100 <= status < 200 or self.command == "HEAD"
        self._record(status)
        self.send_header("Content-Length", "0" if no_body else str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=headers)

    def _error(self, status: int, message: str, **extra: Any) -> None:
        self._json(status, {"message": message, "error": message, **extra})

    def _answer_fault(self, fault: Fault) -> None:
        if fault.delay > 0 and self.server.stopping.wait(fault.delay):
            fault = Fault(drop=True)
        if fault.drop:
            self._record(None)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        headers = dict(fault.headers or {})
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault.location is not None:
            headers["Location"] = fault.location
        body = fault.body
        if body is None:
            body = {"message": f"Injected fault: HTTP {fault.status}"}
            if 200 <= fault.status < 300 and self._endpoint == "trace":
                # An injected success reads as the API's own: a trace id (nothing is stored).
                body["traceId"] = str(uuid.uuid4())
        if isinstance(body, bytes):
            self._send(fault.status, body, "application/octet-stream", headers)
        elif isinstance(body, str):
            self._send(fault.status, body.encode("utf-8"), "text/plain; charset=utf-8", headers)
        else:
            self._json(fault.status, body, headers)

    # ------------------------------------------------------------ routes

    def _route(self, path: str, body: bytes | None, too_large: bool) -> None:
        sandbox = self.server.sandbox
        if match := _TRACE_PATH.match(path):
            if self.command != "POST":
                self._error(405, "Use POST to send a trace")
            else:
                self._post_trace(match.group(1), body, too_large)
        elif match := _RESULT_PATH.match(path):
            if self.command != "GET":
                self._error(405, "Use GET to read an interpretation")
            else:
                self._get_result(match.group(1), match.group(2))
        elif self.command != "GET":
            self._error(404 if not path.startswith(API_BASE_PATH) else 405, "No such endpoint")
        elif path in ("/", "/traces", "/traces/"):
            status, page = pages.index_page(
                sandbox.traces(), sandbox.interpretation_delay, urlsplit(self.path).query
            )
            self._html(page, status)
        elif match := _DETAIL_PAGE.match(path):
            self._trace_page(match.group(1))
        elif path.rstrip("/") == "/api/sandbox/traces":
            status, answer = pages.listing_answer(
                sandbox.traces(), sandbox.interpretation_delay, urlsplit(self.path).query
            )
            self._json(status, answer)
        elif match := _LISTING_ITEM.match(path):
            trace = sandbox.trace(match.group(1)) if is_valid_uuid(match.group(1)) else None
            if trace is None:
                self._error(404, "Unknown trace id")
            else:
                self._json(200, pages.listing_item(trace, sandbox.interpretation_delay, True))
        else:
            self._error(404, "No such endpoint")

    def _html(self, text: str, status: int = 200) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8", _HTML_HEADERS)

    def _trace_page(self, trace_id: str) -> None:
        sandbox = self.server.sandbox
        trace = sandbox.trace(trace_id) if is_valid_uuid(trace_id) else None
        if trace is None:
            self._html(pages.not_found_page(trace_id), 404)
        else:
            self._html(pages.detail_page(trace, sandbox.interpretation_delay))

    def _authenticate(self, path_agent_id: str) -> bool:
        """Check the path id's shape (400) and the credentials (401); True when allowed."""
        sandbox = self.server.sandbox
        if not is_valid_uuid(path_agent_id):
            self._error(400, "The agent id in the path is not a UUID")
            return False
        header_id = self.headers.get("x-agent-id")
        header_key = self.headers.get("x-agent-key")
        if header_id is None or header_key is None:
            self._error(401, "Missing x-agent-id or x-agent-key header")
            return False
        expected_id = path_agent_id.lower()
        expected_key = sandbox.secret_of(expected_id)
        same_id = header_id.strip().lower() == expected_id and expected_key is not None
        same_key = hmac.compare_digest(
            header_key.encode("utf-8", "replace"), (expected_key or "").encode("utf-8")
        )
        if not (same_id and same_key):
            self._error(401, "Authentication failed: unknown agent id or wrong agent key")
            return False
        return True

    def _post_trace(self, path_agent_id: str, body: bytes | None, too_large: bool) -> None:
        sandbox = self.server.sandbox
        if not self._authenticate(path_agent_id):
            return
        if too_large or body is None:
            self._error(
                413,
                f"Payload too large: the limit is {sandbox.max_payload_bytes} bytes",
                limit=sandbox.max_payload_bytes,
            )
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._error(400, f"Body is not valid UTF-8 ({exc.reason} at byte {exc.start})")
            return
        try:
            payload = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            self._error(400, f"Body is not valid JSON: {exc}")
            return
        except RecursionError:
            self._error(400, "Body is JSON nested deeper than this server reads")
            return
        if sandbox.strict:
            problems = validate_trace_payload(payload)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                self._error(422, f"Invalid trace payload: {problems[0]}{more}", errors=problems)
                return
        elif not isinstance(payload, dict):
            self._error(422, "Invalid trace payload: must be a JSON object")
            return
        trace = sandbox._accept(payload, len(body), path_agent_id.lower())
        self._json(201, {"traceId": trace.trace_id, "message": "Trace received"})

    def _get_result(self, path_agent_id: str, trace_id: str) -> None:
        sandbox = self.server.sandbox
        if not self._authenticate(path_agent_id):
            return
        if not is_valid_uuid(trace_id):
            self._error(400, "The trace id in the path is not a UUID")
            return
        trace = sandbox.trace(trace_id)
        if trace is not None and trace.agent_id != path_agent_id.lower():
            trace = None  # another agent's trace is unknown to this one
        if trace is None or not trace.is_ready(sandbox.interpretation_delay):
            message = "Unknown trace id" if trace is None else "Interpretation not ready yet"
            if sandbox.not_ready_status == 200:
                self._json(
                    200,
                    {
                        "traceId": trace_id,
                        "status": "processing",
                        "interpretedTraceResult": None,
                        "message": message,
                    },
                )
            else:
                self._error(sandbox.not_ready_status, message, traceId=trace_id)
            return
        self._json(
            200,
            {
                "traceId": trace.trace_id,
                "status": "completed",
                "interpretedTraceResult": interpret(trace.payload),
                "message": "Interpretation ready",
            },
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _endpoint_of(path: str) -> str:
    if _TRACE_PATH.match(path):
        return "trace"
    if _RESULT_PATH.match(path):
        return "interpretation"
    return "other"
