"""The sandbox HTTP server: Infinium's trace and interpretation endpoints on loopback.

This module owns the listening socket and the ``Sandbox`` lifecycle; the request
handling lives in ``handler`` and the request log's records in ``recording``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from infinium_otel.contract import MAX_PAYLOAD_BYTES
from infinium_otel.credentials import is_valid_uuid
from infinium_otel.sandbox.faults import FaultQueue
from infinium_otel.sandbox.handler import API_BASE_PATH, _Handler
from infinium_otel.sandbox.host_check import allowed_hosts
from infinium_otel.sandbox.recording import HeaderDict, RecordedRequest
from infinium_otel.sandbox.store import StoredTrace, TraceStore
from infinium_otel.settings import is_loopback_host

__all__ = [
    "API_BASE_PATH",
    "SANDBOX_AGENT_ID",
    "SANDBOX_AGENT_SECRET",
    "HeaderDict",
    "RecordedRequest",
    "Sandbox",
]

logger = logging.getLogger("infinium_otel.sandbox")

SANDBOX_AGENT_ID = "00000000-0000-4000-8000-000000000001"
SANDBOX_AGENT_SECRET = "sandbox-secret-key"
_MAX_RECORDED_REQUESTS = 100_000


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
        bound_port = int(self.server_address[1])
        self.allowed_hosts = allowed_hosts(address[0], bound_port)
        # Off loopback (--allow-remote) agents reach the API under names of their
        # own; it is authenticated, so only the unauthenticated pages are checked.
        self.api_host_checked = is_loopback_host(address[0])

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
        agents: Mapping[str, str] | None = None,
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
        self._agents: dict[str, str] = {}
        for other_id, other_secret in (agents or {}).items():
            self.add_agent(other_id, other_secret)
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

    def add_agent(self, agent_id: str, agent_secret: str) -> None:
        """Accept one more agent's credentials (besides ``agent_id``); each has its traces."""
        if not is_valid_uuid(agent_id):
            raise ValueError("Sandbox agent ids must be UUIDs")
        if len(agent_secret.strip()) < 8:
            raise ValueError("Sandbox agent secrets must be at least 8 characters")
        self._agents[agent_id.lower()] = agent_secret

    def secret_of(self, agent_id: str) -> str | None:
        """The secret this sandbox expects from ``agent_id``, None for an unknown agent."""
        wanted = agent_id.lower()
        if wanted == self.agent_id:
            return self.agent_secret
        return self._agents.get(wanted)

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

    def _accept(
        self, payload: dict[str, Any], body_bytes: int, agent_id: str | None = None
    ) -> StoredTrace:
        trace = StoredTrace(
            trace_id=str(uuid.uuid4()),
            agent_id=agent_id or self.agent_id,
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
