"""The gateway's admission reads the exporter's backlog, not a full counters snapshot,
and a request waiting for room is woken when the delivery frees some, not by polling."""

from __future__ import annotations

import http.client
import threading
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from exporter.support import agent_attributes, exporter_for
from gateway.otlp import request, span
from gateway.support import accounted, start_gateway, wait_until
from infinium_otel.gateway import core
from infinium_otel.sandbox import Fault, Sandbox


@pytest.mark.timeout(60)
def test_backlog_is_the_buffered_spans_and_pending_runs_that_stats_reports(
    sandbox: Sandbox,
) -> None:
    sandbox.faults.push("trace", Fault(status=201, delay=1.5))  # the first run stays pending
    exporter = exporter_for(sandbox)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    try:
        assert exporter.backlog() == (0, 0)
        with tracer.start_as_current_span("run one", attributes=agent_attributes("a")):
            pass
        with tracer.start_as_current_span("run two", attributes=agent_attributes("b")) as root:
            with tracer.start_as_current_span("child", attributes=agent_attributes("d")):
                pass  # ends before its root: buffered
            assert exporter.backlog()[0] == 1
        with tracer.start_as_current_span("open root", attributes=agent_attributes("c")):
            with tracer.start_as_current_span("waiting child", attributes=agent_attributes("e")):
                pass
            buffered, pending = exporter.backlog()
            stats = exporter.stats()
            assert buffered == stats["spans_buffered"] == 1
            assert pending == stats["delivery_pending"] >= 1
        assert root.end_time is not None
        assert wait_until(lambda: exporter.backlog() == (0, 0), timeout=20)
        assert exporter.stats()["delivery_pending"] == 0
    finally:
        provider.shutdown()


@pytest.mark.timeout(60)
def test_room_listener_is_called_once_the_run_has_left_the_backlog(sandbox: Sandbox) -> None:
    """Each call comes after the run stopped counting as pending, so a woken feeder that
    looks at ``backlog()`` sees the room it was told of."""
    exporter = exporter_for(sandbox)
    seen: list[tuple[int, int]] = []
    called = threading.Event()

    def listener() -> None:  # on the delivery thread, its lock held (re-entrant: may read)
        seen.append(exporter.backlog())
        called.set()

    exporter.add_room_listener(listener)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("t").start_as_current_span(
            "run", attributes=agent_attributes("a")
        ):
            pass
        assert called.wait(20)
        assert seen[0] == (0, 0)
        assert len(sandbox.traces()) == 1
    finally:
        provider.shutdown()


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
        )
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def _run_request(n: int) -> bytes:
    return request(
        span(1, attributes=agent_attributes(f"r{n}"), trace_id=bytes([n]) * 16)
    ).SerializeToString()


@pytest.mark.timeout(60)
def test_a_waiting_request_is_woken_by_the_delivery_not_by_a_recheck(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the periodic look made rarer than the whole admission wait, only the signal
    from the exporter's delivery can let the waiting request in before its deadline."""
    monkeypatch.setattr(core, "ROOM_RECHECK", 60.0)
    gateway = start_gateway(
        sandbox,
        exporter_options={"max_queued_payloads": 1},
        wait=0.2,
        orphan_wait=2.0,
        admission_wait=20.0,
    )
    port = gateway.http_port
    assert port is not None
    answers: list[tuple[int, float]] = []

    def second() -> None:
        started = time.monotonic()
        answers.append((_post(port, _run_request(2)), time.monotonic() - started))

    try:
        assert _post(port, _run_request(1)) == 200
        waiting = threading.Thread(target=second, daemon=True)
        waiting.start()
        waiting.join(30)
        assert len(answers) == 1
        status, waited = answers[0]
        assert status == 200
        assert waited < 15  # well before the 20 s deadline: woken, not timed out
        assert wait_until(lambda: len(sandbox.traces()) == 2)
        stats = gateway.stats()
        assert stats["gateway_requests_waited_for_room"] == 1
        assert stats["gateway_backpressure_answers"] == 0
        assert accounted(stats)
    finally:
        gateway.close(5)


@pytest.mark.timeout(60)
def test_a_waiting_request_still_gets_429_at_its_deadline(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signals that bring no room (nothing is delivered: the held run waits 30 s) do not
    end the wait early, nor extend it past ``admission_wait``."""
    monkeypatch.setattr(core, "ROOM_RECHECK", 0.05)
    gateway = start_gateway(
        sandbox,
        exporter_options={"max_queued_payloads": 1},
        wait=30.0,
        orphan_wait=30.0,
        admission_wait=0.5,
    )
    port = gateway.http_port
    assert port is not None
    try:
        assert _post(port, _run_request(1)) == 200
        started = time.monotonic()
        assert _post(port, _run_request(2)) == 429
        assert time.monotonic() - started >= 0.5
        stats = gateway.stats()
        assert stats["gateway_backpressure_answers"] == 1
        assert stats["gateway_spans_refused_busy"] == 1
        assert not gateway.pipeline._room_lock.locked()
        assert accounted(stats)
    finally:
        gateway.close(5)
