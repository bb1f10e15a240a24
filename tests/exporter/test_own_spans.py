"""The package's own work never shows up as telemetry it then exports to Infinium.

Our HTTP calls (trace POSTs, interpretation polls) run with instrumentation
suppressed, so an instrumented ``requests`` makes no spans for them; the spans
the interpretation processor makes (scope ``infinium_otel.interpretation``) go
to the user's other exporters but never become an Infinium run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel import InfiniumHandle, configure
from infinium_otel.sandbox import Sandbox

from .support import agent_attributes, chat_attributes, checked_payloads, trace_posts


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider()
    yield made
    made.shutdown()


@pytest.fixture
def instrumented_requests(provider: TracerProvider) -> Iterator[None]:
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def http_spans(memory: InMemorySpanExporter) -> list[str]:
    return [
        span.name
        for span in memory.get_finished_spans()
        if "http.request.method" in (span.attributes or {})
        or "http.method" in (span.attributes or {})
    ]


def interpreted_run(
    sandbox: Sandbox, provider: TracerProvider, *, sink: str, name: str
) -> tuple[InMemorySpanExporter, InfiniumHandle]:
    """One agent run through configure(), delivered and interpreted; spans kept in memory."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=sink,
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        poll_interval=1.0,
        poll_timeout=10.0,
        max_retries=0,
    )
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass
    assert handle.flush(10.0)
    assert handle.wait_for_interpretations(15.0)
    return memory, handle


def test_our_http_calls_make_no_spans(
    sandbox: Sandbox, provider: TracerProvider, instrumented_requests: None
) -> None:
    memory, handle = interpreted_run(sandbox, provider, sink="log", name="quiet")
    polls = [r for r in sandbox.requests if r.endpoint == "interpretation"]
    assert trace_posts(sandbox) == 1 and polls, sandbox.requests
    assert [p["name"] for p in checked_payloads(sandbox)] == ["quiet"]
    assert http_spans(memory) == []
    # The control: the instrumentation is live, an application request does make a span.
    requests.get(sandbox.root_url, timeout=5)
    assert len(http_spans(memory)) == 1
    assert handle.shutdown(5.0)


def test_interpretation_spans_are_never_sent_to_infinium(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    memory, handle = interpreted_run(sandbox, provider, sink="span_event", name="graded")
    assert handle.flush(10.0)
    own = [
        span
        for span in memory.get_finished_spans()
        if span.instrumentation_scope is not None
        and span.instrumentation_scope.name == "infinium_otel.interpretation"
    ]
    assert own, "the interpretation span reached the user's other exporters"
    # ... but the exporter ignored it: still exactly one run at the sandbox.
    assert [p["name"] for p in checked_payloads(sandbox)] == ["graded"]
    assert trace_posts(sandbox) == 1
    assert handle.stats()["spans_internal"] == len(own)
    assert handle.shutdown(5.0)
