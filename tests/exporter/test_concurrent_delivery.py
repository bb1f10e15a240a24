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
from typing import Any

import pytest

from infinium_otel.client.response import ApiResponse
from infinium_otel.delivery.items import RunMeta
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


# What the same runs and the same answers come to, whatever the pool's size.
SAME_STORY = {
    "first_flush": False,  # two runs refused (422)
    "queued": 12,
    "delivered": 9,  # the twelve, less two refused and one dropped by the hook
    "failed": 2,
    "dropped_by_hook": 1,
    "pending": 0,
    "posts": 14,  # eleven payloads and three 503s retried
    "stored": 9,
    "second_flush": True,  # the failures were reported once; the next three arrive
    "delivered_after": 12,
    "shutdown": True,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("senders", [1, CONCURRENCY])
def test_a_pool_of_one_and_a_pool_of_four_tell_the_same_story(
    senders: int, sandbox: Sandbox
) -> None:
    """The serial path is the pool with one sender: the same counters and flush answers."""
    sandbox.faults.push(
        "trace", Fault(status=503, retry_after="0", repeat=3), Fault(status=422, repeat=2)
    )

    def hook(payload: dict[str, Any]) -> dict[str, Any] | None:
        return None if payload["name"] == "run-5" else payload

    exporter = exporter_for(
        sandbox, max_concurrent_sends=senders, max_retries=10, payload_hook=hook
    )
    for batch in prebuilt_runs(12):
        exporter.export(batch)
    story: dict[str, Any] = {"first_flush": exporter.force_flush(30_000)}
    stats = exporter.stats()
    story.update(
        queued=stats["delivery_queued"],
        delivered=stats["delivery_delivered"],
        failed=stats["delivery_failed"],
        dropped_by_hook=stats["runs_dropped_by_hook"],
        pending=stats["delivery_pending"],
        posts=trace_posts(sandbox),
        stored=len(checked_payloads(sandbox)),
    )
    for batch in prebuilt_runs(3):
        exporter.export(batch)
    story["second_flush"] = exporter.force_flush(30_000)
    story["delivered_after"] = exporter.stats()["delivery_delivered"]
    story["shutdown"] = exporter.shutdown_report(10.0)
    assert story == SAME_STORY


@pytest.mark.timeout(60)
@pytest.mark.parametrize("senders", [1, CONCURRENCY])
def test_flush_from_a_hook_or_a_listener_answers_false_at_once(
    senders: int, sandbox: Sandbox
) -> None:
    """A flush on one of delivery's own threads would wait on itself: it says False at once,
    whichever thread it is (the preparing one runs hooks, the senders run listeners)."""
    answers: list[tuple[str, str, bool, float]] = []
    holder: dict[str, Any] = {}

    def flush_from(where: str) -> None:
        started = time.monotonic()
        flushed = holder["exporter"].force_flush(30_000)
        took = time.monotonic() - started
        answers.append((where, threading.current_thread().name, flushed, took))

    def hook(payload: dict[str, Any]) -> dict[str, Any]:
        flush_from("hook")
        return payload

    def listener(meta: RunMeta, response: ApiResponse) -> None:
        flush_from("listener")

    exporter = exporter_for(sandbox, max_concurrent_sends=senders, payload_hook=hook)
    holder["exporter"] = exporter
    assert exporter._delivery is not None
    exporter._delivery.add_listener(listener)
    for batch in prebuilt_runs(2):
        exporter.export(batch)
    assert exporter.force_flush(20_000) is True  # from the application: the truth
    assert sorted((where, thread, flushed) for where, thread, flushed, _ in answers) == [
        ("hook", "infinium-otel-delivery", False),
        ("hook", "infinium-otel-delivery", False),
        ("listener", "infinium-otel-send", False),
        ("listener", "infinium-otel-send", False),
    ]
    assert all(took < 5.0 for *_, took in answers), answers  # not its 30 s deadline
    assert exporter.shutdown_report(10.0)


def test_the_setting_is_declared_and_bounded() -> None:
    assert Settings.load({"INFINIUM_MAX_CONCURRENT_SENDS": "4"}).max_concurrent_sends == 4
    assert Settings.load({}).max_concurrent_sends == 1
    with pytest.raises(ConfigurationError):
        Settings.load({"INFINIUM_MAX_CONCURRENT_SENDS": "0"})
    with pytest.raises(ConfigurationError):
        Settings.load({"INFINIUM_MAX_CONCURRENT_SENDS": "64"})
