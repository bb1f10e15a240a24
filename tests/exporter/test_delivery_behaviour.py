"""Delivery seen from the application: a slow or failing endpoint never reaches it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from infinium_otel.sandbox import Fault, Sandbox

from .support import (
    Pipeline,
    agent_attributes,
    chat_attributes,
    checked_payloads,
    exporter_for,
    tags,
    trace_posts,
)

# Seconds the endpoint takes per request in the slow tests. A fault's answer replaces
# the sandbox's own, so runs answered by a fault are counted but not stored.
SLOW = 1.0


def one_run(tracer: Tracer, name: str, chats: int = 3) -> None:
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        for _ in range(chats):
            with tracer.start_as_current_span("chat", attributes=chat_attributes()):
                pass


def prebuilt_runs(count: int) -> list[list[ReadableSpan]]:
    """Finished spans of ``count`` runs, made by a real provider, one list per run."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("prebuilt")
    batches = []
    for index in range(count):
        one_run(tracer, f"run-{index}")
        batches.append(list(memory.get_finished_spans()))
        memory.clear()
    provider.shutdown()
    return batches


def test_a_slow_endpoint_never_makes_export_slow(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=201, delay=SLOW, repeat=3))
    exporter = exporter_for(sandbox, timeout=10.0)
    batches = prebuilt_runs(6)
    took = []
    for batch in batches:
        started = time.perf_counter()
        exporter.export(batch)
        took.append(time.perf_counter() - started)
    # Generous bound: export() only assembles, converts and queues, while each of
    # the first requests takes SLOW seconds on the delivery thread.
    assert max(took) < 0.2, took
    assert exporter.stats()["delivery_delivered"] == 0  # still on the wire
    assert exporter.force_flush(30_000)
    assert exporter.stats()["delivery_delivered"] == 6
    assert len(checked_payloads(sandbox)) == 3  # those not answered by the slow fault
    exporter.shutdown()


def test_a_slow_endpoint_never_makes_the_batch_processor_drop_spans(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=201, delay=SLOW, repeat=2))
    pipeline = Pipeline(
        sandbox,
        timeout=10.0,
        processor_options={
            "max_queue_size": 64,
            "max_export_batch_size": 16,
            "schedule_delay_millis": 10,
        },
    )
    runs = 40
    started = time.monotonic()
    for index in range(runs):
        one_run(pipeline.tracer, f"run-{index}", chats=3)
        time.sleep(0.01)  # steady traffic, well within what a fast exporter keeps up with
    emitted_in = time.monotonic() - started
    assert emitted_in < SLOW * 2  # the app was never held up by the endpoint
    assert pipeline.flush(30.0)
    stats = pipeline.exporter.stats()
    # Every span reached the exporter: the queue of 64 never overflowed.
    assert stats["spans_received"] == runs * 4
    assert stats["delivery_delivered"] == runs
    # The slow answers were the fault's own (not stored); every other run was stored.
    assert trace_posts(sandbox) == runs
    assert len(checked_payloads(sandbox)) == runs - 2
    pipeline.close()


def test_what_cannot_be_delivered_is_logged_without_the_secret_and_counted(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="infinium_otel")
    sandbox.faults.push("trace", Fault(status=404, repeat=100))
    exporter = exporter_for(sandbox, max_retries=1, timeout=2.0)
    for batch in prebuilt_runs(2):
        exporter.export(batch)
    assert exporter.force_flush(30_000) is False  # both were attempted and neither accepted
    stats = exporter.stats()
    assert stats["delivery_failed"] == 2
    assert stats["delivery_delivered"] == 0
    assert trace_posts(sandbox) == 2  # a 404 is final: one attempt each
    failures = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert failures, [r.getMessage() for r in caplog.records]
    assert "run-0" in failures[0].getMessage()
    assert sandbox.agent_secret not in caplog.text
    for record in caplog.records:
        assert sandbox.agent_secret not in repr(record.args)
    exporter.shutdown()


def test_shutdown_drains_buffered_runs_and_pending_deliveries(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=201, delay=0.3, repeat=3))
    pipeline = Pipeline(sandbox, timeout=10.0)
    for index in range(3):
        one_run(pipeline.tracer, f"done-{index}")
    live = pipeline.tracer.start_span("invoke_agent live", attributes=agent_attributes("live"))
    from opentelemetry import trace

    with trace.use_span(live, end_on_exit=False):
        with pipeline.tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass
    pipeline.processor.force_flush()
    started = time.monotonic()
    assert pipeline.exporter.shutdown_report(10.0) is True
    assert time.monotonic() - started < 10.0
    # The three finished runs met the slow (unstored) answers; the live run went last.
    assert pipeline.exporter.stats()["delivery_delivered"] == 4
    assert trace_posts(sandbox) == 4
    [partial] = checked_payloads(sandbox)
    assert partial["name"] == "live"
    assert tags(partial)["partial"] == "true"
    live.end()
    pipeline.close()


def test_shutdown_tells_the_truth_when_time_runs_out(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=201, delay=3.0, repeat=5))
    exporter = exporter_for(sandbox, timeout=10.0)
    for batch in prebuilt_runs(5):
        exporter.export(batch)
    started = time.monotonic()
    assert exporter.shutdown_report(1.0) is False
    assert time.monotonic() - started < 2.5
    stats = exporter.stats()
    assert stats["delivery_delivered"] < 5
    assert stats["delivery_abandoned_at_shutdown"] + stats["delivery_failed"] >= 1
    checked_payloads(sandbox)


def test_export_leaves_conversion_and_the_hook_to_the_delivery_thread(sandbox: Sandbox) -> None:
    """export() on the batch processor's thread only assembles: it stays cheap in a burst."""
    threads: list[str] = []

    def hook(payload: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return payload

    exporter = exporter_for(sandbox, payload_hook=hook)
    for batch in prebuilt_runs(4):
        exporter.export(batch)
    assert len(sandbox.wait_for_traces(4, timeout=5.0)) == 4
    assert threads == ["infinium-otel-delivery"] * 4
    checked_payloads(sandbox)
    exporter.shutdown()


def test_finished_runs_go_out_without_any_flush(sandbox: Sandbox) -> None:
    exporter = exporter_for(sandbox)
    for batch in prebuilt_runs(3):
        exporter.export(batch)
    assert len(sandbox.wait_for_traces(3, timeout=5.0)) == 3
    assert sorted(p["name"] for p in checked_payloads(sandbox)) == ["run-0", "run-1", "run-2"]
    exporter.shutdown()
