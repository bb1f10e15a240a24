"""Several sends in flight (``max_concurrent_sends``): flush and counters stay truthful.

Real exporter, real HTTP over loopback: the sandbox with its fault injection,
or a small server that answers only once several requests are open at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infinium_otel.errors import ConfigurationError
from infinium_otel.sandbox import Fault, Sandbox
from infinium_otel.settings import Settings

from .support import checked_payloads, exporter_for, trace_posts
from .test_delivery_behaviour import prebuilt_runs

CONCURRENCY = 4


class _Rendezvous(BaseHTTPRequestHandler):
    """Answers a trace POST 201 only when ``CONCURRENCY`` POSTs are open together, else 422."""

    barrier: threading.Barrier

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            self.barrier.wait()
            status, body = 201, {"traceId": "11111111-2222-3333-4444-555555555555"}
        except threading.BrokenBarrierError:
            status, body = 422, {"message": "sent one at a time"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def rendezvous_server() -> Iterator[str]:
    """The base URL of a server answering only ``CONCURRENCY`` trace POSTs open at once."""
    handler = type(
        "Handler", (_Rendezvous,), {"barrier": threading.Barrier(CONCURRENCY, timeout=5.0)}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def rendezvous() -> Iterator[str]:
    with rendezvous_server() as url:
        yield url


@pytest.mark.timeout(60)
def test_sends_overlap_up_to_the_setting(rendezvous: str, sandbox: Sandbox) -> None:
    exporter = exporter_for(sandbox, base_url=rendezvous, max_concurrent_sends=CONCURRENCY)
    for batch in prebuilt_runs(CONCURRENCY):
        exporter.export(batch)
    # The server answers 201 only when all four POSTs are open at the same time.
    assert exporter.force_flush(30_000)
    stats = exporter.stats()
    assert stats["delivery_delivered"] == CONCURRENCY
    assert stats["delivery_failed"] == 0
    assert exporter.shutdown_report(10.0)


@pytest.mark.timeout(60)
def test_one_at_a_time_is_the_default(rendezvous: str, sandbox: Sandbox) -> None:
    exporter = exporter_for(sandbox, base_url=rendezvous)
    assert exporter.settings.max_concurrent_sends == 1
    for batch in prebuilt_runs(CONCURRENCY):
        exporter.export(batch)
    assert not exporter.force_flush(30_000)  # never four at once: the barrier broke
    assert exporter.stats()["delivery_delivered"] == 0
    exporter.shutdown()


@pytest.mark.timeout(60)
def test_flush_is_false_when_one_of_several_in_flight_fails(sandbox: Sandbox) -> None:
    slow = Fault(status=201, delay=0.3)
    sandbox.faults.push("trace", slow, slow, Fault(status=422), slow)
    exporter = exporter_for(sandbox, max_concurrent_sends=CONCURRENCY)
    for batch in prebuilt_runs(CONCURRENCY):
        exporter.export(batch)
    assert not exporter.force_flush(30_000)
    stats = exporter.stats()
    assert stats["delivery_delivered"] == CONCURRENCY - 1
    assert stats["delivery_failed"] == 1
    # The failure was reported once: the next flush speaks of what came after it.
    for batch in prebuilt_runs(2):
        exporter.export(batch)
    assert exporter.force_flush(30_000)
    assert exporter.stats()["delivery_delivered"] == CONCURRENCY + 1
    assert exporter.shutdown_report(10.0)


@pytest.mark.timeout(60)
def test_a_503_burst_is_retried_and_every_run_arrives_once(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=503, retry_after="0", repeat=12))
    exporter = exporter_for(sandbox, max_concurrent_sends=CONCURRENCY, max_retries=20)
    runs = 10
    for batch in prebuilt_runs(runs):
        exporter.export(batch)
    assert exporter.force_flush(30_000)
    stats = exporter.stats()
    assert stats["delivery_delivered"] == runs
    assert stats["delivery_failed"] == 0
    assert trace_posts(sandbox) == runs + 12
    names = sorted(payload["name"] for payload in checked_payloads(sandbox))
    assert len(names) == runs and len(set(names)) == runs  # each run stored exactly once
    assert exporter.shutdown_report(10.0)


@pytest.mark.timeout(60)
def test_counters_are_exact_with_many_sends_ending_at_once(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=422, repeat=7))
    exporter = exporter_for(sandbox, max_concurrent_sends=8)
    runs = 120
    for batch in prebuilt_runs(runs):
        exporter.export(batch)
    assert not exporter.force_flush(60_000)
    stats = exporter.stats()
    assert stats["delivery_queued"] == runs
    assert stats["delivery_delivered"] == runs - 7
    assert stats["delivery_failed"] == 7
    assert stats["delivery_pending"] == 0
    assert len(checked_payloads(sandbox)) == runs - 7
    assert exporter.shutdown_report(10.0)


@pytest.mark.timeout(60)
def test_shutdown_keeps_its_deadline_with_sends_in_flight(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=201, delay=20.0, repeat=CONCURRENCY))
    exporter = exporter_for(sandbox, max_concurrent_sends=CONCURRENCY, timeout=30.0)
    for batch in prebuilt_runs(CONCURRENCY + 2):
        exporter.export(batch)
    deadline = time.monotonic() + 10.0
    while sandbox.faults.pending("trace") and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the four slow answers are taken: four on the wire
    started = time.monotonic()
    assert not exporter.shutdown_report(0.5)  # four in flight, two queued: not all accepted
    assert time.monotonic() - started < 5.0  # the deadline, not the 20 s answers
    stats = exporter.stats()
    assert stats["delivery_delivered"] == 0
    assert stats["delivery_abandoned_at_shutdown"] == 2


def test_the_setting_is_declared_and_bounded() -> None:
    assert Settings.load({"INFINIUM_MAX_CONCURRENT_SENDS": "4"}).max_concurrent_sends == 4
    assert Settings.load({}).max_concurrent_sends == 1
    with pytest.raises(ConfigurationError):
        Settings.load({"INFINIUM_MAX_CONCURRENT_SENDS": "0"})
    with pytest.raises(ConfigurationError):
        Settings.load({"INFINIUM_MAX_CONCURRENT_SENDS": "64"})
