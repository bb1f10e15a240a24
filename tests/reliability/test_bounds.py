"""Bounded memory under pressure: a stuck endpoint and never-ending runs hold only the caps."""

from __future__ import annotations

import time

from opentelemetry import trace

from infinium_otel.sandbox import Fault, Sandbox

from .support import AGENT, Pipeline

QUEUE_CAP = 20
RUNS = 200


def test_a_stuck_endpoint_holds_at_most_the_queue_cap(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(delay=3, repeat=10))
    pipeline = Pipeline(sandbox, max_queued_payloads=QUEUE_CAP, timeout=1.0)
    started = time.monotonic()
    for index in range(RUNS):
        pipeline.run(f"queued-{index}")
    assert time.monotonic() - started < 10  # the app thread never waited for the network
    stats = pipeline.exporter.stats()
    # Held: bounded by the caps (finished runs waiting plus the delivery queue), not by load.
    assert stats["delivery_pending"] <= 2 * QUEUE_CAP + 1, stats
    assert stats["delivery_dropped_queue_full"] >= RUNS - 2 * QUEUE_CAP - 1, stats
    assert pipeline.exporter.shutdown_report(1.0) is False
    # The one attempt in flight at shutdown ends with its timeout, then counts as failed.
    end = time.monotonic() + 5
    while pipeline.exporter.stats()["delivery_pending"] and time.monotonic() < end:
        time.sleep(0.05)
    stats = pipeline.exporter.stats()
    lost = (
        stats["delivery_failed"]
        + stats["delivery_dropped_queue_full"]
        + stats["delivery_abandoned_at_shutdown"]
        + stats["delivery_dropped_after_shutdown"]
    )
    assert stats["delivery_delivered"] == 0
    assert lost == RUNS, sorted((k, v) for k, v in stats.items() if v)  # every loss is counted
    sandbox.faults.clear()
    pipeline.provider.shutdown()


def test_runs_that_never_end_are_sent_partial_within_the_span_cap(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox, max_buffered_spans=50)
    tracer = pipeline.tracer
    open_roots = []
    for index in range(30):  # 30 roots left open, 3 ended children each: 90 spans > 50
        root = tracer.start_span(
            f"open-{index}", attributes={**AGENT, "gen_ai.agent.name": f"open-{index}"}
        )
        open_roots.append(root)
        context = trace.set_span_in_context(root)
        for child in range(3):
            with tracer.start_as_current_span(
                f"chat {child}",
                context=context,
                attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
            ):
                pass
        assert pipeline.exporter.stats()["spans_buffered"] <= 50
    stats = pipeline.exporter.stats()
    assert stats["traces_evicted"] >= 1
    assert stats["runs_partial"] >= 1
    assert pipeline.exporter.force_flush(10_000)
    partial = [t.payload for t in sandbox.traces()]
    assert partial and all(p["environment"]["custom_tags"].get("otel.trace_id") for p in partial)
    for root in open_roots:
        root.end()  # their late roots are counted, not sent again
    assert pipeline.exporter.force_flush(10_000)
    assert pipeline.exporter.stats()["late_spans"] >= 1
    pipeline.close()
