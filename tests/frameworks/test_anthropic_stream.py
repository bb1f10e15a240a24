"""Our Anthropic instrumentor records the ``messages.stream()`` helper (which posts on its own,
not through ``create``): one span with usage and output, sync and async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

pytest.importorskip("anthropic", reason="anthropic is not installed (extra: test)")

import anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fakes.fake_anthropic import FakeAnthropic
from infinium_otel.instrumentation.anthropic import AnthropicInstrumentor

REPLY = "It is sunny in Paris."
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply=REPLY, input_tokens=21, output_tokens=9) as server:
        yield server


@pytest.fixture
def recorded() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider, capture_content=True)
    try:
        yield memory, provider
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def chat_span(memory: InMemorySpanExporter) -> ReadableSpan:
    spans = [s for s in memory.get_finished_spans() if s.name.startswith("chat")]
    assert len(spans) == 1, [s.name for s in memory.get_finished_spans()]
    return spans[0]


def assert_recorded(span: ReadableSpan) -> None:
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.usage.input_tokens"] == 21, attributes
    assert attributes["gen_ai.usage.output_tokens"] == 9, attributes
    output = json.loads(attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"] == REPLY, output


@pytest.mark.timeout(30)
def test_stream_helper_is_recorded_under_the_current_span(
    recorded: tuple[InMemorySpanExporter, TracerProvider], fake: FakeAnthropic
) -> None:
    memory, provider = recorded
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)
    with provider.get_tracer("test").start_as_current_span("outer") as outer:
        with client.messages.stream(
            model="claude-fake-1", max_tokens=100, messages=MESSAGES
        ) as stream:
            text = stream.get_final_text()

    assert text == REPLY
    span = chat_span(memory)
    assert_recorded(span)
    assert span.parent is not None
    assert span.parent.span_id == outer.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.timeout(30)
def test_async_stream_helper_is_recorded(
    recorded: tuple[InMemorySpanExporter, TracerProvider], fake: FakeAnthropic
) -> None:
    memory, _ = recorded

    async def call() -> str:
        client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test", max_retries=0)
        async with client.messages.stream(
            model="claude-fake-1", max_tokens=100, messages=MESSAGES
        ) as stream:
            return await stream.get_final_text()

    assert asyncio.run(call()) == REPLY
    assert_recorded(chat_span(memory))
