"""AnthropicInstrumentor against a real anthropic client and a loopback fake endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import pytest
from anthropic.resources.messages import AsyncMessages, Messages
from opentelemetry.trace import SpanKind, StatusCode

from fakes.fake_anthropic import FakeAnthropic
from infinium_otel.instrumentation.anthropic import AnthropicInstrumentor

from .conftest import Tracing, messages

ASK = [{"role": "user", "content": "What is the weather?"}]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def instrumented(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


def client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)


def test_message_span(instrumented: Tracing, fake: FakeAnthropic) -> None:
    fake.cache_read_tokens = 100
    fake.cache_creation_tokens = 5
    result = client(fake).messages.create(
        model="claude-x", max_tokens=64, messages=ASK, system="Be terse", stop_sequences=["END"]
    )
    assert result.content[0].text == "Hello from the fake."  # type: ignore[union-attr]
    span = instrumented.only()
    attrs = dict(span.attributes or {})
    assert span.name == "chat claude-x"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "infinium_otel.instrumentation.anthropic"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.response.model"] == "claude-fake-1"
    assert attrs["gen_ai.response.id"] == "msg_fake_1"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.usage.input_tokens"] == 21 + 100 + 5
    assert attrs["gen_ai.usage.output_tokens"] == 9
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 5
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["server.port"] == fake.port
    assert messages(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Be terse"}]
    assert messages(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather?"}]}
    ]
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake."}],
            "finish_reason": "end_turn",
        }
    ]


def test_tool_use_and_results(instrumented: Tracing, fake: FakeAnthropic) -> None:
    fake.tool_calls = [("get_weather", {"city": "Oslo"})]
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t0", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t0", "content": "9C"}],
        },
    ]
    client(fake).messages.create(model="m", max_tokens=10, messages=history)
    span = instrumented.only()
    assert dict(span.attributes or {})["infinium.tool_calls"] == ("get_weather",)
    assert messages(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "tool_call", "name": "get_weather", "id": "toolu_0", "arguments": {"city": "Oslo"}}
    ]
    assert messages(span, "gen_ai.input.messages")[2]["parts"] == [
        {"type": "tool_call_response", "id": "t0", "response": "9C"}
    ]


def test_stream_usage_and_tool_arguments(instrumented: Tracing, fake: FakeAnthropic) -> None:
    stream = client(fake).messages.create(model="m", max_tokens=10, messages=ASK, stream=True)
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    fake.tool_calls = [("lookup", {"q": "x"})]
    with client(fake).messages.create(
        model="m", max_tokens=10, messages=ASK, stream=True
    ) as stream:
        for _ in stream:
            pass
    text_span, tool_span = instrumented.spans()
    text_attrs = dict(text_span.attributes or {})
    assert text_attrs["gen_ai.usage.input_tokens"] == 21
    assert text_attrs["gen_ai.usage.output_tokens"] == 9
    assert text_attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert messages(text_span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "Hello from the fake."}
    ]
    assert dict(tool_span.attributes or {})["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert messages(tool_span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "tool_call", "name": "lookup", "id": "toolu_0", "arguments": {"q": "x"}}
    ]


def test_async_and_async_stream(instrumented: Tracing, fake: FakeAnthropic) -> None:
    async def run() -> int:
        aclient = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="t", max_retries=0)
        await aclient.messages.create(model="m", max_tokens=10, messages=ASK)
        stream = await aclient.messages.create(model="m", max_tokens=10, messages=ASK, stream=True)
        return len([event async for event in stream])

    assert asyncio.run(run()) > 3
    spans = instrumented.spans()
    assert len(spans) == 2
    assert all(dict(s.attributes or {})["gen_ai.usage.output_tokens"] == 9 for s in spans)


def test_error(instrumented: Tracing, fake: FakeAnthropic) -> None:
    fake.error_status = 500
    with pytest.raises(anthropic.InternalServerError):
        client(fake).messages.create(model="m", max_tokens=10, messages=ASK)
    span = instrumented.only()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "InternalServerError"


def test_uninstrument_restores(tracing: Tracing, fake: FakeAnthropic) -> None:
    originals = (Messages.__dict__["create"], AsyncMessages.__dict__["create"])
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider)
    instrumentor.uninstrument()
    assert (Messages.__dict__["create"], AsyncMessages.__dict__["create"]) == originals
    assert Messages.__dict__["create"] is originals[0]
    client(fake).messages.create(model="m", max_tokens=10, messages=ASK)
    assert tracing.spans() == []
