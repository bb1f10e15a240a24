"""How the exporter itself can duplicate a run: the server accepted it, but the answer was lost.

The sandbox's faults replace handling (nothing is stored), so this uses a
small loopback server that stores the first request and then answers too late
for the client's timeout. The client cannot tell "never arrived" from
"arrived, answer lost", retries, and the server holds two copies. This pins
down what docs/reliability.md promises: at most once *from the exporter's
side*, with this exception.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET
from infinium_otel.settings import Settings

from .support import BACKOFF, emit_run


class _LateServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _LateHandler)
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class _LateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _LateServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.accepted.append(json.loads(body))
            first = len(self.server.accepted) == 1
        if first:
            time.sleep(1.0)  # stored, but the answer comes after the client gave up
        answer = json.dumps({"traceId": "00000000-0000-4000-8000-00000000000f"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def late_server() -> Iterator[_LateServer]:
    server = _LateServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_lost_answer_after_acceptance_means_a_second_copy(late_server: _LateServer) -> None:
    host, port = late_server.server_address[:2]
    settings = Settings.load(
        {},
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=f"http://{host!s}:{port}/api/v1",
        timeout=0.3,
        max_retries=3,
        interpretation="off",
    )
    client = InfiniumClient(settings=settings, backoff_base=BACKOFF)
    exporter = InfiniumSpanExporter(settings=settings, client=client, interpretation=False)
    provider = TracerProvider()
    attach_tracker(provider, exporter)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit_run(provider.get_tracer("lost-answer"), "accepted-twice")
    assert exporter.force_flush(10_000)
    stats = exporter.stats()
    exporter.shutdown()
    provider.shutdown()
    names = [payload["name"] for payload in late_server.accepted]
    assert names == ["accepted-twice", "accepted-twice"]
    assert stats["delivery_delivered"] == 1  # the exporter believes it sent it once
