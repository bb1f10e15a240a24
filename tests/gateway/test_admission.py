"""The gateway's admission reads the exporter's backlog, not a full counters snapshot."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from exporter.support import agent_attributes, exporter_for
from gateway.support import wait_until
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
