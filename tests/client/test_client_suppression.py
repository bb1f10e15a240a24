"""The client's own HTTP calls never become spans, even with ``requests`` instrumented."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import requests
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.client.async_client import AsyncInfiniumClient
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.sandbox import Sandbox

from .conftest import VALID_PAYLOAD

instrumentation = pytest.importorskip("opentelemetry.instrumentation.requests")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = instrumentation.RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


def test_instrumented_requests_records_other_calls_but_not_ours(
    sandbox: Sandbox, spans: InMemorySpanExporter
) -> None:
    requests.get(sandbox.root_url + "api/sandbox/traces", timeout=5)
    assert len(spans.get_finished_spans()) == 1  # the instrumentation is live

    with InfiniumClient(sandbox.agent_id, sandbox.agent_secret, sandbox.url) as client:
        trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
        assert trace_id is not None
        client.get_interpreted_task_result(trace_id)
        client.check_credentials()

    async def run_async() -> None:
        async with AsyncInfiniumClient(sandbox.agent_id, sandbox.agent_secret, sandbox.url) as c:
            await c.send_task_data(VALID_PAYLOAD)

    asyncio.run(run_async())
    assert len(spans.get_finished_spans()) == 1
    assert len(sandbox.traces()) == 2
