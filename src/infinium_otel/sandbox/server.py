"""The sandbox HTTP server: Infinium's trace and interpretation endpoints on loopback."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from infinium_otel.config import is_loopback_host, is_valid_uuid
from infinium_otel.contract import MAX_PAYLOAD_BYTES
from infinium_otel.sandbox import pages
from infinium_otel.sandbox.faults import Fault, FaultQueue
from infinium_otel.sandbox.interpretation import interpret
from infinium_otel.sandbox.store import StoredTrace, TraceStore
from infinium_otel.sandbox.validation import validate_trace_payload

logger = logging.getLogger("infinium_otel.sandbox")

SANDBOX_AGENT_ID = "00000000-0000-4000-8000-000000000001"
SANDBOX_AGENT_SECRET = "sandbox-secret-key"
API_BASE_PATH = "/api/v1"

_TRACE_PATH = re.compile(r"^/api/v1/agents/([^/]*)/trace/?$")
_RESULT_PATH = re.compile(r"^/api/v1/agents/([^/]*)/interpreted-result/([^/]*)/?$")
_DETAIL_PAGE = re.compile(r"^/traces/([^/]*)/?$")
_LISTING_ITEM = re.compile(r"^/api/sandbox/traces/([^/]*)/?$")
# Bodies up to this size are read and discarded after a 413 so the client sees the
# answer instead of a reset; anything larger closes the connection.
_DISCARD_LIMIT = 64 * 1024 * 1024
_MAX_RECORDED_REQUESTS = 100_000
_REDACTED = "<redacted>"


class HeaderDict(dict[str, str]):
    """Request headers as sent, looked up without regard to case."""

    def _key(self, name: object) -> object:
        if isinstance(name, str):
            for key in self.keys():
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(str(self._key(name)))

    def __contains__(self, name: object) -> bool:
        return super().__contains__(self._key(name))

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(str(self._key(name)), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox saw it (the agent key is never kept)."""

    method: str
    path: str
    status: int | None
    headers: HeaderDict
    at: float
    endpoint: str
    body_bytes: int = 0
    fault: Fault | None = field(default=None, compare=False)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, family: int) -> None:
        self.address_family = family
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """End keep-alive connections so a stopped sandbox really is unreachable."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("sandbox connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "infinium-otel-sandbox"
    timeout = 60
    # Headers and body go out in separate writes; without TCP_NODELAY each
    # keep-alive answer waits ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

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
        path = urlsplit(self.path).path
        self._endpoint = _endpoint_of(path)
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
                headers=_redacted_headers(self.headers.items()),
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
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                return b"", False
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunk = self.rfile.read(size)
            self.rfile.readline(1024)
            total += len(chunk)
            if total > _DISCARD_LIMIT:
                self.close_connection = True
                return None, True
            if total <= limit:
                parts.append(chunk)
        if total > limit:
            return None, True
        return b"".join(parts), False

    def _discard(self, length: int) -> None:
        if length > _DISCARD_LIMIT:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)

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
            self._html(pages.index_page(sandbox.traces(), sandbox.interpretation_delay))
        elif match := _DETAIL_PAGE.match(path):
            self._trace_page(match.group(1))
        elif path.rstrip("/") == "/api/sandbox/traces":
            self._json(200, pages.listing(sandbox.traces(), sandbox.interpretation_delay))
        elif match := _LISTING_ITEM.match(path):
            trace = sandbox.trace(match.group(1)) if is_valid_uuid(match.group(1)) else None
            if trace is None:
                self._error(404, "Unknown trace id")
            else:
                self._json(200, pages.listing_item(trace, sandbox.interpretation_delay, True))
        else:
            self._error(404, "No such endpoint")

    def _html(self, text: str, status: int = 200) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8")

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
        expected_id = sandbox.agent_id.lower()
        same_id = header_id.strip().lower() == expected_id == path_agent_id.lower()
        same_key = hmac.compare_digest(
            header_key.encode("utf-8", "replace"), sandbox.agent_secret.encode("utf-8")
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
        if sandbox.strict:
            problems = validate_trace_payload(payload)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                self._error(422, f"Invalid trace payload: {problems[0]}{more}", errors=problems)
                return
        elif not isinstance(payload, dict):
            self._error(422, "Invalid trace payload: must be a JSON object")
            return
        trace = sandbox._accept(payload, len(body))
        self._json(201, {"traceId": trace.trace_id, "message": "Trace received"})

    def _get_result(self, path_agent_id: str, trace_id: str) -> None:
        sandbox = self.server.sandbox
        if not self._authenticate(path_agent_id):
            return
        if not is_valid_uuid(trace_id):
            self._error(400, "The trace id in the path is not a UUID")
            return
        trace = sandbox.trace(trace_id)
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


def _redacted_headers(items: Any) -> HeaderDict:
    return HeaderDict(
        (name, _REDACTED if name.lower() == "x-agent-key" else value) for name, value in items
    )


class Sandbox:
    """A local Infinium-compatible server for demos and tests (loopback only by default).

    ``with Sandbox() as sb:`` starts it; ``sb.url`` is the base URL to give a client.
    ``stop()`` then ``start()`` keeps the port and the stored traces.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str = ":memory:",
        agent_id: str = SANDBOX_AGENT_ID,
        agent_secret: str = SANDBOX_AGENT_SECRET,
        interpretation_delay: float = 3.0,
        not_ready_status: int = 404,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        *,
        allow_remote: bool = False,
        strict: bool = True,
    ) -> None:
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(
                f"Sandbox host {host!r} is not a loopback address; pass allow_remote=True"
                " (--allow-remote) to listen on it"
            )
        if not is_valid_uuid(agent_id):
            raise ValueError("Sandbox agent_id must be a UUID")
        if len(agent_secret.strip()) < 8:
            raise ValueError("Sandbox agent_secret must be at least 8 characters")
        if not_ready_status not in (200, 404):
            raise ValueError("not_ready_status must be 200 or 404")
        if interpretation_delay < 0:
            raise ValueError("interpretation_delay must not be negative")
        if max_payload_bytes < 1:
            raise ValueError("max_payload_bytes must be positive")
        self.host = host
        self._port = port
        self.db = db
        self.agent_id = agent_id.lower()
        self.agent_secret = agent_secret
        self.interpretation_delay = float(interpretation_delay)
        self.not_ready_status = not_ready_status
        self.max_payload_bytes = max_payload_bytes
        self.strict = strict
        self.faults = FaultQueue()
        self._store = TraceStore(db)
        self._requests: deque[RecordedRequest] = deque(maxlen=_MAX_RECORDED_REQUESTS)
        self._requests_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Sandbox(host={self.host!r}, port={self._port}, db={self.db!r}, {state})"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Sandbox:
        """Listen and serve on a daemon thread; returns self. Idempotent."""
        with self._lifecycle:
            if self._server is not None:
                return self
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            server = _Server((self.host, self._port), self, family)
            self._port = int(server.server_address[1])
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"infinium-sandbox-{self._port}",
                daemon=True,
            )
            self._thread.start()
        logger.info("sandbox listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening and end open connections; the store is kept. Idempotent."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            server.stopping.set()
            server.shutdown()
            server.server_close()
            server.close_open_connections()
            if thread is not None:
                thread.join(timeout=5)
        logger.info("sandbox on port %s stopped", self._port)

    def close(self) -> None:
        """Stop and release the database."""
        self.stop()
        self._store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (known once started; kept across stop/start)."""
        if self._port == 0:
            raise RuntimeError("the sandbox has no port until start() is called")
        return self._port

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. ``http://127.0.0.1:54321/api/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_BASE_PATH}"

    @property
    def root_url(self) -> str:
        """Where the HTML listing lives."""
        return self.url[: -len(API_BASE_PATH)] + "/"

    # ------------------------------------------------------------ inspection

    def traces(self) -> list[StoredTrace]:
        """Accepted traces in arrival order."""
        return self._store.all()

    def trace(self, trace_id: str) -> StoredTrace | None:
        return self._store.get(trace_id)

    def wait_for_traces(self, n: int, timeout: float = 10.0) -> list[StoredTrace]:
        """Block until at least ``n`` traces are stored; raises TimeoutError after ``timeout``."""
        return self._store.wait_for(n, timeout)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request seen so far (agent key redacted)."""
        with self._requests_lock:
            return list(self._requests)

    def make_ready(self, trace_id: str) -> bool:
        """Make a trace's interpretation available now; False for an unknown id."""
        return self._store.mark_ready(trace_id)

    def clear(self) -> None:
        """Forget stored traces, recorded requests and queued faults."""
        self._store.clear()
        with self._requests_lock:
            self._requests.clear()
        self.faults.clear()

    # ------------------------------------------------------------ used by the handler

    def _accept(self, payload: dict[str, Any], body_bytes: int) -> StoredTrace:
        trace = StoredTrace(
            trace_id=str(uuid.uuid4()),
            agent_id=self.agent_id,
            payload=payload,
            received_at=time.time(),
            body_bytes=body_bytes,
        )
        self._store.add(trace)
        logger.debug("sandbox stored trace %s (%d bytes)", trace.trace_id, body_bytes)
        return trace

    def _record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self._requests.append(request)
